"""The one factory of the app, used by the CLI, the tests and the benchmarks."""

from __future__ import annotations

from pathlib import Path

from hermes_tui.agent.endpoint import Endpoint, resolve_endpoint
from hermes_tui.app import HermesApp
from hermes_tui.screens.main import Startup
from hermes_tui.settings import Config, load_config
from hermes_tui.theming import HermesTheme, load_themes
from hermes_tui.ui_state import UiState, load_ui_state
from registry import (
    ProcessRegistry,
    RecoveryReport,
    RegistryError,
    get_registry,
    startup_report,
)


def make_app(
    *,
    config_path: Path | None = None,
    config: Config | None = None,
    backend: str | None = None,
    model: str | None = None,
    base_url: str | None = None,
    endpoint: Endpoint | None = None,
    registry: ProcessRegistry | None = None,
    report: RecoveryReport | None = None,
    themes: dict[str, HermesTheme] | None = None,
    watcher_min_interval: float = 30.0,
) -> HermesApp:
    """Create the app: load config and themes, recover processes, report problems.

    Args:
        config_path: The config file (default: ``$HERMES_CONFIG`` or the user config dir).
        config: A config to use as is instead of reading one.
        backend: Where new processes run (default: the config's).
        model: Model name, overriding config and environment.
        base_url: OpenAI-compatible endpoint, overriding config and environment.
        endpoint: The endpoint to use as is (tests: the scripted server).
        registry: The process registry (default: the shared one, recovered at start).
        report: What recovery found; with a given registry and no report, it recovers now.
        themes: The themes (default: those shipped in ``themes/``).
        watcher_min_interval: The smallest ``check_interval`` (tests lower it).
    """
    problems: list[str] = []
    if config is None:
        config, problems = load_config(config_path)
    if endpoint is None:
        endpoint = resolve_endpoint(config, model=model, base_url=base_url)
    if themes is None:
        themes, theme_problems = load_themes()
        problems += theme_problems
    if registry is None:
        # Loading the shared registry only reads what earlier runs left (read-only commands
        # stay cheap); the app steers processes, so it re-adopts them here.
        registry = get_registry(backend_options=config.backends)
        loaded = startup_report()
        if report is None:
            report = registry.recover()
            if loaded is not None:
                report.warnings[:0] = loaded.warnings
    elif report is None:
        for kind, options in config.backends.items():
            registry.configure_backend(kind, options)
        report = registry.recover()
    registry.max_wait = config.processes.max_wait
    ui_state = load_ui_state(registry.state_dir)
    if report is not None:
        while_away(registry, report, ui_state)
    startup = Startup(
        endpoint=endpoint,
        backend=backend or config.backend,
        report=report,
        problems=problems,
        watcher_min_interval=watcher_min_interval,
    )
    return HermesApp(registry, config, themes, startup, config_path=config_path, ui_state=ui_state)


def while_away(registry: ProcessRegistry, report: RecoveryReport, state: UiState) -> None:
    """Complete what recovery found with what only the app knows: when it last ran.

    A process that ended after that (killed from the CLI, say) ended while the person was
    away, even though the CLI recorded its end; one started after that was started from
    another shell, not re-adopted after the app's death, so it is not "recovered".
    """
    if state.last_seen:  # else the first run: nothing was "away"
        reported = {s.id for s in (*report.adopted, *report.ended, *report.lost)}
        for proc in registry.processes():
            if proc.started_at > state.last_seen:
                proc.recovered = False
            if (
                proc.id not in reported
                and not proc.is_running
                and (proc.ended_at or 0.0) > state.last_seen
            ):
                report.ended.append(proc)
    for proc in (*report.ended, *report.lost):
        try:
            registry.output(proc.id)  # the report shows their last lines (from the spool)
        except RegistryError:
            pass
