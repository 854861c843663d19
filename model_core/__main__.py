"""``python -m model_core``: the command line of model_core.cli."""
__all__: list[str] = []  # a script: nothing to import

try:
    from .cli import main
except KeyboardInterrupt:  # Ctrl-C while numpy is still importing: no traceback either
    raise SystemExit(130) from None

raise SystemExit(main())
