"""HTTP interfaces over the search service that are not Gradio: the JSON REST routes and the thumbnail route."""
