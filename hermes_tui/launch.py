"""Building the app from config, themes and the shared registry (used by the CLI and tests)."""

from __future__ import annotations

from pathlib import Path

from hermes_tui.agent.endpoint import resolve_endpoint
from hermes_tui.app import HermesApp
from hermes_tui.settings import load_config
from hermes_tui.theming import load_themes
from registry import ProcessRegistry, get_registry, startup_report


def make_app(
    *,
    config_path: Path | None = None,
    backend: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    registry: ProcessRegistry | None = None,
) -> HermesApp:
    """Create the app: load config and themes, recover processes, report problems."""
    config, problems = load_config(config_path)
    endpoint = resolve_endpoint(config, model=model, base_url=base_url)
    themes, theme_problems = load_themes()
    if registry is None:
        registry = get_registry(backend_options=config.backends)
        loaded = startup_report()
    else:
        for kind, options in config.backends.items():
            registry.configure_backend(kind, options)
        loaded = None
    report = registry.recover()
    if loaded is not None:
        report.warnings[:0] = loaded.warnings
    registry.max_wait = config.processes.max_wait
    return HermesApp(
        registry,
        config,
        themes,
        report=report,
        problems=[*problems, *theme_problems],
        config_path=config_path,
        backend=backend,
        endpoint=endpoint,
    )
