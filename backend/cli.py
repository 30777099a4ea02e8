"""Command line over the backend API: search, build, train, eval, import, bench. JSON out with --json."""
from __future__ import annotations

import argparse
import json
import logging
import sys
from pathlib import Path

from backend.paths import DEFAULT_BUNDLE


def _print_json(obj) -> None:
    json.dump(obj, sys.stdout, indent=2, ensure_ascii=False, default=str)
    sys.stdout.write("\n")


def cmd_search(args) -> int:
    from backend.service import SearchService
    given = [x for x in (args.query, args.image, args.like) if x is not None]
    if len(given) != 1:
        raise ValueError("give exactly one of: a text QUERY, --image PATH, --like IMAGE_KEY")
    from backend.grow.store import additions_enabled
    service = SearchService.from_bundle(args.bundle, additions=additions_enabled())
    out = service.search(text=args.query, image=args.image, image_key=args.like, kind=args.kind, k=args.k,
                         ranker=args.ranker, full=args.full, min_score=args.min_score)
    if args.json:
        _print_json(out)
        return 0
    for r in out["results"]:
        best = r["rooms"][r["best_room"] - 1]
        print(f"{r['rank']:>3}. {r['score']:.3f}  [{r['kind']}] {r['title']}  "
              f"(room {best['number']} carried {best['contribution']:.0%}: {best['title']})")
    print("timings (ms):", out["timings_ms"])
    return 0


def cmd_add(args) -> int:
    """Add a metaverse from a JSON spec (image paths relative to it), remove one, or list them. A running app on the
    same store serves the change within a second."""
    from backend.grow.store import AdditionStore, encoder_identity
    from backend.service import SearchService
    if sum(bool(x) for x in (args.spec, args.remove, args.list, args.dir)) != 1:
        raise ValueError("give exactly one of: SPEC.json, --dir FOLDER, --remove ID, --list")
    if args.list or args.remove:
        from backend.data.bundle import load_bundle
        bundle = load_bundle(args.bundle, check_hashes=False)
        store = AdditionStore(args.additions, identity=encoder_identity(bundle))
        out = {"store": str(store.path), "added": store.ids()} if args.list else store.remove(args.remove)
        _print_json(out)
        return 0
    service = SearchService.from_bundle(args.bundle)
    service.enable_additions(AdditionStore(args.additions, identity=encoder_identity(service.bundle)))
    if args.dir:                         # every *.json in the folder: bad ones skipped with the reason, one swap
        folder = Path(args.dir)
        if not folder.is_dir():
            raise ValueError(f"--dir {folder}: not a folder")
        specs = []
        for path in sorted(folder.glob("*.json")):
            try:
                specs.append((path, json.loads(path.read_text()), path.parent))
            except (OSError, json.JSONDecodeError, UnicodeDecodeError) as e:
                specs.append((path, ValueError(f"{path}: cannot read the spec ({e})"), path.parent))
        out = service.grow.add_many(specs, allow_outside=args.allow_outside)
        _print_json(out)
        return 2 if out["skipped"] and not out["added"] else 0
    spec_path = Path(args.spec)
    try:
        spec = json.loads(spec_path.read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise ValueError(f"{spec_path}: cannot read the spec ({e})") from None
    _print_json(service.grow.add(spec, base_dir=spec_path.parent, allow_outside=args.allow_outside))
    return 0


def cmd_recommend(args) -> int:
    from backend.service import SearchService
    service = SearchService.from_bundle(args.bundle)
    liked = [i for i in (args.liked or "").split(",") if i.strip()]
    out = service.recommender.recommend(liked=liked, k=args.k, d=args.d, mode=args.mode, seed=args.seed,
                                        ranker=args.ranker)
    if args.json:
        _print_json(out)
        return 0
    for s in out["seeds"]:
        print(f"seed {s['id']} ({s['role']}, {s['share']} results): {s['reason']}")
    for r in out["results"]:
        print(f"{r['rank']:>3}. {r['score']:.3f}  [{r['kind']}] {r['title']}  (from seed {r['seed']})")
    print(f"intra-list diversity: {out['ild']:.3f}")
    return 0


def cmd_bench_recommend(args) -> int:
    from backend.ops.bench_recommend import run_recommend_bench
    report = run_recommend_bench(Path(args.bundle), out_dir=Path(args.out_dir), quick=args.quick)
    _print_json(report)
    return 0


def cmd_bench_map(args) -> int:
    from backend.ops.bench_map_render import run_map_render_bench
    _print_json(run_map_render_bench(out_dir=Path(args.out_dir), quick=args.quick))
    return 0


def cmd_bench_add(args) -> int:
    from backend.ops.bench_add import run_add_bench
    _print_json(run_add_bench(Path(args.bundle), sizes=[int(x) for x in args.sizes.split(",") if x.strip()],
                              repeats=args.repeats, old=args.old, old_repeats=args.old_repeats,
                              old_sizes=[int(x) for x in args.old_sizes.split(",") if x.strip()],
                              out=Path(args.out) if args.out else None))
    return 0


def cmd_bench_scale(args) -> int:
    from backend.ops.bench_scale import run_scale_bench
    sizes = [int(float(x)) for x in args.sizes.split(",") if x.strip()]
    approximate = {"auto": None, "approximate": True, "exact": False}[args.index]
    _print_json(run_scale_bench(sizes, queries=args.queries, seed=args.seed, kind=args.kind, approximate=approximate,
                                out=Path(args.out) if args.out else None, plot=Path(args.plot) if args.plot else None,
                                candidates=args.candidates))
    return 0


def cmd_bench_engines(args) -> int:
    from backend.ops.bench_engines import run_engines_bench
    _print_json(run_engines_bench(Path(args.bundle), rounds=args.rounds, limit=args.limit,
                                  rankers=args.rankers.split(",") if args.rankers else None, uri=args.uri,
                                  out=Path(args.out) if args.out else None))
    return 0


def cmd_bench_uploads(args) -> int:
    from backend.ops.bench_uploads import run_uploads
    _print_json(run_uploads(Path(args.bundle), clients=args.clients, megapixels=args.megapixels))
    return 0


def cmd_soak(args) -> int:
    from backend.ops.soak import run_soak
    env = dict(kv.split("=", 1) for kv in args.app_env)
    _print_json(run_soak(Path(args.bundle), seconds=args.seconds, burst_seconds=args.burst_seconds, k=args.k,
                         out=Path(args.out) if args.out else None, env=env, cool_down=args.cool_down))
    return 0


def cmd_study(args) -> int:
    """Local exports and report of a study (the researcher runs this where the database is; no token needed here,
    the web dashboard asks for one)."""
    from backend.study import exports
    from backend.study.report import open_study, study_report
    store, config = open_study(args.config, args.db)
    if config.name != args.study:
        raise ValueError(f"--study {args.study!r} does not match the config's name {config.name!r}")
    if args.action == "report":
        _print_json(study_report(store, config))
        return 0
    fmt = args.format
    if fmt == "qrels":
        sys.stdout.write(exports.to_qrels(store.judgements(args.study), config))
    elif fmt == "run":
        runs = exports.to_runs(store.shown_lists(args.study), config)
        if args.ranker:
            if args.ranker not in runs:
                raise ValueError(f"no run for ranker {args.ranker!r}; runs exist for {', '.join(runs) or 'none'}")
            sys.stdout.write(runs[args.ranker])
        else:
            for text in runs.values():
                sys.stdout.write(text)
    elif fmt == "csv":
        sys.stdout.write(exports.to_csv(store.judgements(args.study)))
    elif fmt == "jsonl":
        sys.stdout.write(exports.to_jsonl(store.judgements(args.study)))
    else:
        sys.stdout.write(exports.to_query_set(store.user_queries(args.study), config))
    return 0


def cmd_study_simulate(args) -> int:
    from backend.study.simulate import simulate, summary
    result = simulate(participants=args.participants, seed=args.seed, db=Path(args.db) if args.db else None)
    _print_json(result if args.full else summary(result))
    return 0


def cmd_bench_study(args) -> int:
    from backend.ops.study_load import run_study_load
    _print_json(run_study_load(participants=args.participants, seconds=args.seconds, bundle=Path(args.bundle),
                               out=Path(args.out) if args.out else None, think_ms=args.think_ms))
    return 0


def cmd_build(args) -> int:
    if args.what == "collection":
        return _build_collection(args)
    if args.source is not None:
        raise ValueError(f"build {args.what} takes no source folder (only build collection does)")
    from backend.ops.build import build_demo, build_maps, build_text_graph, build_tower_scale
    if args.what == "text-graph":
        report = build_text_graph()
        print(f"text encoder: {report['runtime']}" + (f", graph {report['path']} ({report['mb']} MB)"
                                                      if "path" in report else "") + f", {report['seconds']} s")
    elif args.what == "maps":
        report = build_maps(Path(args.out), seed=args.seed)
        from backend.explore.maps import REPRODUCES, build_host
        print(f"maps built on {build_host()}; a rebuild reproduces them with the {REPRODUCES}.")   # what to expect
    elif args.what == "tower-scale":
        report = build_tower_scale(Path(args.out), seed=args.seed, base=Path(args.base) if args.base else None)
    else:
        report = build_demo(Path(args.out), seed=args.seed, n_museums=args.museums, n_games=args.games,
                            tower_epochs=args.tower_epochs, hicalm_epochs=args.hicalm_epochs,
                            train_hicalm=not args.no_hicalm)
        report["maps"] = build_maps(Path(args.out), seed=args.seed)
    if args.json:
        _print_json(report)
    return 0


def _build_collection(args) -> int:
    """Folders (or a JSONL / CSV manifest) -> a bundle with HiCALM, maps and eval (backend/ops/build_collection.py)."""
    from backend.ops.build_collection import build_collection
    if args.source is None:
        raise ValueError("build collection needs the source: a folder of metaverse folders or a .jsonl / .csv manifest")
    if Path(args.out).resolve() == Path(DEFAULT_BUNDLE).resolve():
        raise ValueError(f"build collection would replace the served bundle {DEFAULT_BUNDLE}; give --out NEW_FOLDER")
    report = build_collection(Path(args.source), Path(args.out), encoder=args.encoder,
                              encoder_weights=args.encoder_weights, tower=Path(args.tower) if args.tower else None,
                              kind=args.kind, seed=args.seed, hicalm_epochs=args.hicalm_epochs,
                              train_hicalm=not args.no_hicalm, maps=not args.no_maps, strict=args.strict,
                              report_path=Path(args.report) if args.report else None)
    if args.json:
        _print_json(report)
        return 0
    print(f"{report['n_metaverses']} metaverses ({report['splits']}), encoder {report['encoder_choice']}, "
          f"{report['seconds']['total']} s -> {report['bundle']}")
    for s in report["skipped"]:
        print(f"skipped {s['name']}: {s['reason']}")
    ev = report["eval"]
    print(ev.get("table") or f"eval skipped: {ev.get('skipped')}")
    print(f"report: {report['report']}")
    return 0


def cmd_export_folders(args) -> int:
    from backend.ops.export_folders import export_folders
    report = export_folders(Path(args.out), Path(args.bundle), limit=args.limit, size=args.size)
    _print_json(report) if args.json else print(f"{report['metaverses']} metaverses, {report['images']} images "
                                                f"in {report['seconds']} s -> {report['out']}")
    return 0


def cmd_train(args) -> int:
    if args.seeds:
        return _train_seed_sweep(args)
    from backend.ops.build import retrain_bundle
    report = retrain_bundle(Path(args.bundle), variant=args.variant, epochs=args.epochs, seed=args.seed,
                            theme_weight=args.theme_weight, lam=args.lam, query_augment=args.query_augment,
                            out=Path(args.out) if args.out else None, typed_augment=args.typed_augment)
    if args.json:
        _print_json(report)
    return 0


def _train_seed_sweep(args) -> int:
    from backend.ops.seed_sweep import format_sweep, seed_sweep
    if not args.queries:
        raise SystemExit("train --seeds needs --queries FILE (its dev half scores every seed)")
    try:
        seeds = [int(s) for s in args.seeds.split(",") if s.strip()]
    except ValueError:
        raise SystemExit(f"--seeds takes integers separated by commas, e.g. 0,1,2; got {args.seeds!r}") from None
    options = {"variant": args.variant, "epochs": args.epochs, "lam": args.lam, "theme_weight": args.theme_weight,
               "query_augment": args.query_augment, "typed_augment": args.typed_augment}
    report = seed_sweep(Path(args.bundle), seeds, Path(args.queries), options)
    _print_json(report) if args.json else print(format_sweep(report))
    return 0


def cmd_eval(args) -> int:
    if args.queries:
        from backend.eval.queryset import evaluate_queries, load_queries
        from backend.service import SearchService
        report = evaluate_queries(SearchService.from_bundle(args.bundle), load_queries(Path(args.queries)),
                                  split=args.query_split, separators=args.separators)
        _print_json(report) if args.json else print(json.dumps(report, indent=2))
        return 0
    from backend.eval.bundle_eval import evaluate_bundle
    report = evaluate_bundle(Path(args.bundle), split=args.split, qrels=args.qrels)
    if args.json:
        _print_json(report)
    else:
        from backend.eval.bundle_eval import format_table
        print(format_table(report))
    return 0


def cmd_import(args) -> int:
    from backend.ops.build import import_dataset
    report = import_dataset(args.dataset, Path(args.root), Path(args.out), generalist=args.generalist,
                            expert=args.art_expert, encoder_weights=args.encoder_weights,
                            hicalm_epochs=args.hicalm_epochs, strict=args.strict,
                            frames_per_segment=args.frames_per_segment)
    _print_json(report) if args.json else print(f"imported into {args.out}")
    return 0


def cmd_bench(args) -> int:
    from backend.ops.bench import run_bench
    report = run_bench(Path(args.bundle), install=args.install, http=not args.no_http, repeats=args.repeats)
    _print_json(report) if args.json else print(json.dumps(report, indent=2))
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m backend", description="Metaverse Search backend CLI")
    p.add_argument("-v", "--verbose", action="store_true", help="log stage timings")
    sub = p.add_subparsers(dest="command", required=True)

    s = sub.add_parser("search", help="rank metaverses for a text or image query")
    s.add_argument("query", nargs="?", help="free-text query")
    s.add_argument("--image", help="path of a query image")
    s.add_argument("--like", help="an image key from a result ('<metaverse id>/<room>/<image>'): more like this")
    s.add_argument("--full", action="store_true", help="include every room's paragraph and the intro")
    s.add_argument("--k", type=int, default=10)
    s.add_argument("--kind", default="all", help="museum | game | all")
    s.add_argument("--ranker", default=None, help="hicalm | baseline (default: the bundle's default)")
    s.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    s.add_argument("--min-score", type=float, default=None,
                   help="only hits scoring at least this (cosine scale), --k of them at most")
    s.add_argument("--json", action="store_true")
    s.set_defaults(func=cmd_search)

    a = sub.add_parser("add", help="add a metaverse to the collection at run time (or --remove / --list)")
    a.add_argument("spec", nargs="?", help="JSON: id, kind, title, description, rooms [{title, images|features}]")
    a.add_argument("--dir", default=None, metavar="FOLDER",
                   help="add every *.json spec in FOLDER: bad ones skipped with the reason, one view swap")
    a.add_argument("--remove", default=None, metavar="ID", help="remove an added metaverse")
    a.add_argument("--list", action="store_true", help="list the added metaverses")
    a.add_argument("--allow-outside", action="store_true",
                   help="let the spec name images outside its own folder (absolute paths, '..', symlinks out)")
    a.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    a.add_argument("--additions", default=None, help="the additions store (default $METAVERSE_ADDITIONS or "
                                                     "data/additions)")
    a.set_defaults(func=cmd_add)

    b = sub.add_parser("build", help="build a bundle (demo, or a collection from folders), or add UMAP + HDBSCAN "
                                     "maps to one (maps)")
    b.add_argument("what", choices=["demo", "collection", "maps", "tower-scale", "text-graph"],
                   help="demo: the whole demo bundle; collection: a bundle from SOURCE (a folder per metaverse with "
                        "a folder per room of images, or a .jsonl / .csv manifest; README 'Bring your own "
                        "collection'); maps: UMAP + HDBSCAN maps; tower-scale: fine-tune the demo "
                        "image tower so 64-1024 px uploads rank alike; text-graph: export MiniLM for ONNX Runtime "
                        "into the cache ($METAVERSE_CACHE or .cache/; ./run.sh does it once)")
    b.add_argument("source", nargs="?", default=None, help="collection: the folder tree or manifest to read")
    b.add_argument("--encoder", default="auto", help="collection: auto (open_clip mobileclip-s1 when its weights "
                                                      "are on this machine, else the demo tower), demo, or an "
                                                      "open_clip model name")
    b.add_argument("--encoder-weights", default=None, help="collection: local open_clip weights (file or folder)")
    b.add_argument("--tower", default=None, help="collection: the demo image tower (default precomputed/'s)")
    b.add_argument("--kind", default="museum", help="collection: the kind of items whose files name none")
    b.add_argument("--strict", action="store_true",
                   help="collection: abort on the first bad item (default: skip it and report why)")
    b.add_argument("--no-maps", action="store_true", help="collection: skip the UMAP + HDBSCAN maps")
    b.add_argument("--report", default=None, help="collection: where the report goes (default OUT-report.json)")
    b.add_argument("--out", default=str(DEFAULT_BUNDLE))
    b.add_argument("--seed", type=int, default=0)
    b.add_argument("--museums", type=int, default=500)
    b.add_argument("--games", type=int, default=150)
    b.add_argument("--tower-epochs", type=int, default=8)
    b.add_argument("--hicalm-epochs", type=int, default=None, help="default: the training config's")
    b.add_argument("--no-hicalm", action="store_true", help="skip training the hierarchical model")
    b.add_argument("--base", default=None, help="tower-scale: start from this tower checkpoint (the one the "
                                                "collection was encoded with) instead of the bundle's own")
    b.add_argument("--json", action="store_true")
    b.set_defaults(func=cmd_build)

    x = sub.add_parser("export-folders", help="write the demo bundle's metaverses as the folder tree that "
                                              "'build collection' reads (rendered images)")
    x.add_argument("--out", required=True, help="a new (or empty) folder")
    x.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    x.add_argument("--limit", type=int, default=None, help="only this many metaverses, evenly spaced")
    x.add_argument("--size", type=int, default=128, help="image size in px")
    x.add_argument("--json", action="store_true")
    x.set_defaults(func=cmd_export_folders)

    t = sub.add_parser("train", help="train HiCALM on a bundle's train split and store it in the bundle")
    t.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    t.add_argument("--out", default=None, help="write a new bundle here instead of updating --bundle")
    t.add_argument("--variant", default="hicalm-rnn")
    t.add_argument("--epochs", type=int, default=None)
    t.add_argument("--seed", type=int, default=0)
    t.add_argument("--lam", type=float, default=1.0, help="weight of the room-level loss")
    t.add_argument("--theme-weight", type=float, default=0.0, help="theme-aware second term (0 = off)")
    t.add_argument("--query-augment", type=float, default=None,
                   help="probability of an extra short partial-description query per item (default: config's)")
    t.add_argument("--typed-augment", type=float, default=None,
                   help="probability of a typed query (1-4 rooms in a visitor's words) per item (default: config's)")
    t.add_argument("--seeds", default=None, help="e.g. 0,1,2: train once per seed, score each on the dev half of "
                                                 "--queries, print per-seed figures with mean ± std; the bundle is "
                                                 "left as it is")
    t.add_argument("--queries", default=None, help="with --seeds: the query set (queries/README.md)")
    t.add_argument("--json", action="store_true")
    t.set_defaults(func=cmd_train)

    e = sub.add_parser("eval", help="evaluate every ranker on a split")
    e.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    e.add_argument("--split", default="test")
    e.add_argument("--qrels", default=None, help="TREC qrels file (query id = metaverse id) for explicit nDCG")
    e.add_argument("--queries", default=None, help="a query set (queries/README.md) scored as served, both rankers")
    e.add_argument("--query-split", default="dev", choices=["dev", "test", "all"],
                   help="which half of --queries (test: report only, never tune on it)")
    e.add_argument("--separators", default="keep", choices=["keep", "strip"],
                   help="strip: score the text queries with their separators removed (commas, 'and', 'plus', "
                        "'also', 'then'...), to see how much a ranking depends on them")
    e.add_argument("--json", action="store_true")
    e.set_defaults(func=cmd_eval)

    i = sub.add_parser("import", help="import published features (Museums3k, GamingMV) into a bundle")
    i.add_argument("dataset", choices=["museums3k", "gamingmv"])
    i.add_argument("--root", required=True)
    i.add_argument("--out", required=True)
    i.add_argument("--generalist", default="mobile_clip", choices=["clip", "mobile_clip"])
    i.add_argument("--art-expert", default=None, help="museums3k: wikiart backbone, e.g. rn50; gamingmv: 'de'")
    i.add_argument("--encoder-weights", default=None, help="local open_clip weights for free-text queries")
    i.add_argument("--hicalm-epochs", type=int, default=None, help="train HiCALM after import (0 = skip)")
    i.add_argument("--strict", action="store_true",
                   help="abort on the first item that does not import (default: skip it and report why)")
    i.add_argument("--frames-per-segment", type=int, default=None,
                   help="gamingmv: frames sampled uniformly per segment (default: the authors' 32)")
    i.add_argument("--json", action="store_true")
    i.set_defaults(func=cmd_import)

    r = sub.add_parser("recommend", help="recommend metaverses from liked ones, showing the seeds it chose")
    r.add_argument("--liked", default="", help="comma-separated metaverse ids (none: cold start)")
    r.add_argument("--k", type=int, default=10)
    r.add_argument("--d", type=float, default=0.2, help="share of k taken around a random outlier, 0-1")
    r.add_argument("--mode", default="paper", choices=["paper", "per-cluster"])
    r.add_argument("--seed", type=int, default=0, help="random seed (outlier choice, sampling)")
    r.add_argument("--ranker", default=None)
    r.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    r.add_argument("--json", action="store_true")
    r.set_defaults(func=cmd_recommend)

    rb = sub.add_parser("bench-recommend", help="ILD against k and d, on-topic rate, latency; plots into docs/")
    rb.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    rb.add_argument("--out-dir", default="docs")
    rb.add_argument("--quick", action="store_true", help="a small version for tests")
    rb.set_defaults(func=cmd_bench_recommend)

    bm = sub.add_parser("bench-map", help="map render times in headless Chromium (650 / 10k / 50k points, the app)")
    bm.add_argument("--out-dir", default="docs")
    bm.add_argument("--quick", action="store_true")
    bm.set_defaults(func=cmd_bench_map)

    ba = sub.add_parser("bench-add", help="per-add latency and counted work with 5 / 100 / 1,000 additions stored")
    ba.add_argument("--sizes", default="5,100,1000", help="additions stored before the timed adds, comma-separated")
    ba.add_argument("--repeats", type=int, default=20, help="timed adds per size")
    ba.add_argument("--old", action="store_true", help="also time the rebuild-every-add path it replaced")
    ba.add_argument("--old-sizes", default="5,100", help="sizes for --old (it costs seconds per add)")
    ba.add_argument("--old-repeats", type=int, default=3)
    ba.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    ba.add_argument("--out", default=None, help="write the report (JSON) here")
    ba.set_defaults(func=cmd_bench_add)

    bs = sub.add_parser("bench-scale", help="served latency, recall@10 and memory on synthetic 10^4..10^6 collections")
    bs.add_argument("--sizes", default="10000,100000,1000000", help="metaverse counts, comma-separated")
    bs.add_argument("--queries", type=int, default=200)
    bs.add_argument("--seed", type=int, default=0)
    bs.add_argument("--kind", default="museum", help="the kind filter measured beside 'all'")
    bs.add_argument("--index", default="auto", choices=["auto", "exact", "approximate"],
                    help="auto: chosen by size (backend/search/index.py); exact / approximate force one")
    bs.add_argument("--candidates", type=int, default=None, help="top-list length (default: the engine's CANDIDATES)")
    bs.add_argument("--out", default=None, help="write the report (JSON) here")
    bs.add_argument("--plot", default=None, help="write the latency / memory plot (PNG) here")
    bs.set_defaults(func=cmd_bench_scale)

    be = sub.add_parser("bench-engines", help="faiss vs Milvus Lite on the served path, interleaved per query")
    be.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    be.add_argument("--rounds", type=int, default=2)
    be.add_argument("--limit", type=int, default=None, help="first N queries (6 fixed texts, then queries/typed-v1)")
    be.add_argument("--rankers", default=None, help="comma-separated (default: every ranker of the bundle)")
    be.add_argument("--uri", default=None, help="Milvus URI (default: a Milvus Lite .db in a temporary folder)")
    be.add_argument("--out", default=None, help="write the report (JSON) here")
    be.set_defaults(func=cmd_bench_engines)

    so = sub.add_parser("soak", help="8 clients, then 32, then past the queue limit; RSS every second")
    so.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    so.add_argument("--seconds", type=float, default=180)
    so.add_argument("--burst-seconds", type=float, default=60)
    so.add_argument("--k", type=int, default=50)
    so.add_argument("--out", default=None, help="also write the report here")
    so.add_argument("--cool-down", type=float, default=30, help="idle seconds after the last phase, RSS still sampled")
    so.add_argument("--app-env", nargs="*", default=["MALLOC_ARENA_MAX=2"],
                    help="NAME=VALUE for the app process (default: as run.sh and the Dockerfile start it)")
    so.set_defaults(func=cmd_soak)

    bu = sub.add_parser("bench-uploads", help="peak RSS of the app while clients upload maximum-size images at once")
    bu.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    bu.add_argument("--clients", type=int, default=6)
    bu.add_argument("--megapixels", type=float, default=None, help="default: just under the app's limit")
    bu.set_defaults(func=cmd_bench_uploads)

    st = sub.add_parser("study", help="a user study's exports and report (see studies/)")
    st.add_argument("action", choices=["export", "report"])
    st.add_argument("--study", required=True, help="the study's name (as in its config)")
    st.add_argument("--config", required=True, help="the study's YAML/JSON config, e.g. studies/demo-study.yaml")
    st.add_argument("--db", default=None, help="SQLite path (default: $METAVERSE_STUDY_DB or data/studies.sqlite3)")
    st.add_argument("--format", default="qrels", choices=["qrels", "run", "csv", "jsonl", "queries"])
    st.add_argument("--ranker", default=None, help="with --format run: only this ranker's run")
    st.add_argument("--json", action="store_true")
    st.set_defaults(func=cmd_study)

    ss = sub.add_parser("study-simulate", help="scripted participants (some grade only part of a list) on synthetic "
                                               "rankers; the report's figures beside pytrec_eval's")
    ss.add_argument("--participants", type=int, default=16)
    ss.add_argument("--seed", type=int, default=0)
    ss.add_argument("--db", default=None, help="SQLite path to keep (default: a temporary one)")
    ss.add_argument("--full", action="store_true", help="the whole report, not the summary")
    ss.set_defaults(func=cmd_study_simulate)

    sl = sub.add_parser("bench-study", help="simulated participants grading through the API; lost/duplicated writes")
    sl.add_argument("--participants", type=int, default=50)
    sl.add_argument("--seconds", type=float, default=60)
    sl.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    sl.add_argument("--out", default=None)
    sl.add_argument("--think-ms", type=float, default=0, help="pause between a participant's grades (0: back to back)")
    sl.set_defaults(func=cmd_bench_study)

    n = sub.add_parser("bench", help="measure latency, throughput, memory, sizes")
    n.add_argument("--bundle", default=str(DEFAULT_BUNDLE))
    n.add_argument("--repeats", type=int, default=200)
    n.add_argument("--no-http", action="store_true", help="skip the HTTP API measurements")
    n.add_argument("--install", action="store_true", help="also time a fresh virtualenv install")
    n.add_argument("--json", action="store_true")
    n.set_defaults(func=cmd_bench)
    return p


def main(argv=None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.INFO if args.verbose else logging.WARNING,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    from backend.data.bundle import BundleError
    try:
        return args.func(args)
    except (ValueError, BundleError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
