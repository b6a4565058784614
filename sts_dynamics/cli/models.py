"""``models``: list the bundled models."""

from __future__ import annotations

from ..io import bundled_models, load_contexts


def add_subcommand(sub) -> None:
    p = sub.add_parser("models", help="list the bundled models and service contexts",
                       description="List the bundled models with a one-line description, and "
                                   "the service-context presets.")
    p.add_argument("--markdown", action="store_true",
                   help="print the generated documentation of every bundled model (docs/models.md)")
    p.set_defaults(func=run)


def run(args) -> int:
    import tomllib

    if getattr(args, "markdown", False):
        from ..modeldoc import library_markdown

        print(library_markdown(), end="")
        return 0
    models = bundled_models()
    width = max((len(n) for n in models), default=10)
    print("Bundled models (sd.load(NAME)):")
    for name, path in models.items():
        meta = path.with_name(path.stem + ".meta.toml")
        desc = ""
        if meta.is_file():
            desc = tomllib.loads(meta.read_text(encoding="utf-8")).get("description", "")
        print(f"  {name:<{width}}  {desc}")
    contexts = load_contexts()
    if contexts:
        print("\nService contexts (sd.load(NAME, context=ID), --context ID):")
        cw = max(len(c) for c in contexts)
        for cid, entry in contexts.items():
            label = entry.get("label") or entry.get("name") or ""
            kind = ", ".join(str(entry[k]) for k in ("coupling", "interaction") if k in entry)
            print(f"  {cid:<{cw}}  {label}{f' ({kind})' if kind else ''}")
    return 0
