# Metaverse Search as a container (e.g. a Docker Space): same requirements, same app as `./run.sh`.
FROM python:3.11-slim
ENV PYTHONUNBUFFERED=1 PIP_NO_CACHE_DIR=1 PIP_DISABLE_PIP_VERSION_CHECK=1 \
    HF_HUB_OFFLINE=1 TRANSFORMERS_OFFLINE=1 GRADIO_ANALYTICS_ENABLED=False \
    GRADIO_SERVER_NAME=0.0.0.0 PORT=7860 MALLOC_ARENA_MAX=2
RUN useradd -m -u 1000 user
WORKDIR /home/user/app
COPY requirements.txt .
RUN pip install -r requirements.txt
COPY --chown=user . .
USER user
# MiniLM's ONNX graph into the image (.cache/), so the Space's first start does not export it
RUN python -m backend build text-graph
EXPOSE 7860
CMD ["python", "app.py", "--host", "0.0.0.0", "--port", "7860"]
