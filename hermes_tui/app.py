"""The app shell: config, themes, keymap, system commands, quit, and what a crash leaves.

Everything else belongs to the main screen (panes, registry subscription, timers,
attach/detach, process actions) and the conversation it holds (chat sessions, the agent).
Build the app with :func:`hermes_tui.launch.make_app`.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from textual import on
from textual.app import App, SystemCommand
from textual.binding import Binding
from textual.css.query import NoMatches
from textual.notifications import SeverityLevel
from textual.screen import Screen

from hermes_tui.crash import write_crash_report
from hermes_tui.screens.main import MainScreen, Startup
from hermes_tui.screens.quit import QuitConfirm
from hermes_tui.settings import Config
from hermes_tui.term.keys import DetachKey
from hermes_tui.theming import HermesTheme
from hermes_tui.ui_state import UiState, load_ui_state, save_ui_state
from registry import ProcessRegistry, RegistryError
from registry.text import printable


class HermesApp(App[None]):
    """hermes-tui: chat with the agent, a live process list and a terminal."""

    TITLE = "hermes-tui"

    def __init__(
        self,
        registry: ProcessRegistry,
        config: Config,
        themes: dict[str, HermesTheme],
        startup: Startup | None = None,
        *,
        config_path: Path | None = None,
        ui_state: UiState | None = None,
    ) -> None:
        super().__init__()
        self.registry = registry
        self.config = config
        self.hermes_themes = themes
        self.startup = startup or Startup(backend=config.backend)
        self.config_path = config_path
        self.ui_state = ui_state or load_ui_state(registry.state_dir)
        """What the app remembers (theme...): never written to the config file."""
        self.startup.ui_state = self.ui_state
        self.crash: tuple[BaseException, Path | None] | None = None
        """The unexpected exception that ended the app, and where its report was saved."""

    @property
    def main(self) -> MainScreen:
        """The main screen (also while a dialog is on top of it)."""
        for screen in reversed(self.screen_stack):
            if isinstance(screen, MainScreen):
                return screen
        raise LookupError("the main screen is not mounted")

    def _attached(self) -> bool:
        try:
            return self.main.attached_id is not None
        except LookupError:
            return False

    # -- start -----------------------------------------------------------------------------
    def get_default_screen(self) -> Screen[Any]:
        """The main screen is the app's first screen (no extra frame before it)."""
        return MainScreen(self.registry, self.config, self.startup)

    def on_mount(self) -> None:
        for hermes_theme in self.hermes_themes.values():
            self.register_theme(hermes_theme.theme)
        name = self.ui_state.theme_for(self.config.theme)
        if name in self.hermes_themes:
            self.theme = name
        else:
            self.startup.problems.append(f"unknown theme {self.config.theme!r}; using the default")
        self.theme_changed_signal.subscribe(self, self._on_theme_changed)
        detach = DetachKey(self.config.detach_key).textual
        self.set_keymap({**self.config.keys, "detach": detach})

    # -- themes ---------------------------------------------------------------------------
    def _on_theme_changed(self, theme: Any) -> None:
        self._apply_palette()
        if self.theme != self.ui_state.theme_for(self.config.theme):
            # Remembered in the state file: the config file stays exactly as written.
            self.ui_state.choose_theme(self.theme, self.config.theme)
            self.save_ui_state()

    def save_ui_state(self, *, seen: bool = True) -> None:
        """Write what the app remembers (a failure is a warning, never an error)."""
        try:
            save_ui_state(self.registry.state_dir, self.ui_state, seen=seen)
        except (OSError, RegistryError) as exc:
            self.notify(f"Could not save the app's state: {exc}", severity="warning")

    @property
    def available_themes(self) -> dict[str, Any]:
        """Only hermes themes (they carry the terminal palette): one list everywhere."""
        # The current theme stays in (Textual looks it up) even when it is not a hermes one.
        ours = getattr(self, "hermes_themes", None)  # Textual asks before __init__ ends
        themes = super().available_themes
        if not ours:
            return themes
        return {name: theme for name, theme in themes.items() if name in ours or name == self.theme}

    def _apply_palette(self) -> None:
        theme = self.hermes_themes.get(self.theme)
        if theme is None:
            return
        try:
            terminal = self.main.terminal
        except (LookupError, NoMatches):
            return  # not mounted yet: MainScreen.Ready comes later
        terminal.set_palette(theme.ansi, theme.fg, theme.bg)

    @on(MainScreen.Ready)
    def _on_main_ready(self) -> None:
        self._apply_palette()

    # -- keys and the palette ------------------------------------------------------------
    def check_action(self, action: str, parameters: tuple[object, ...]) -> bool | None:
        """While attached, the app's keys (F1, ctrl+p, ctrl+q) belong to the process too."""
        return not self._attached()

    def get_key_display(self, binding: Binding) -> str:
        """Show the detach key as the person configured it (``ctrl+^``), not as ``^^``."""
        if binding.action == "detach":
            return DetachKey(self.config.detach_key).spec
        return super().get_key_display(binding)

    def get_system_commands(self, screen: Screen[Any]) -> Iterable[SystemCommand]:
        for command in super().get_system_commands(screen):
            if command.title != "Keys":  # F1 "Help" lists every key (no second "Keys")
                yield command
        if isinstance(screen, MainScreen):
            for title, help_text, callback in screen.palette_commands():
                yield SystemCommand(title, help_text, callback)

    def notify(
        self,
        message: str,
        *,
        title: str = "",
        severity: SeverityLevel = "information",
        timeout: float | None = None,
        markup: bool = False,
    ) -> None:
        """Show a toast; its text is always plain (ids, paths and errors come from outside)."""
        super().notify(
            printable(message, 500),
            title=printable(title, 100),
            severity=severity,
            timeout=timeout,
            markup=False,
        )

    # -- quit and crash -------------------------------------------------------------------
    async def action_quit(self) -> None:
        """Quit, asking first when processes run (saying which keep running, which stop)."""
        running = [s for s in self.registry.processes() if s.is_running]
        if not running or isinstance(self.screen, QuitConfirm):
            await self._quit()
            return

        async def answered(yes: bool | None) -> None:
            if yes:
                await self._quit()

        self.push_screen(QuitConfirm(running), answered)

    async def _quit(self) -> None:
        doomed = [s for s in self.registry.processes() if s.is_running and s.stop_on_quit]
        if doomed:
            self.notify(f"Stopping {len(doomed)} process(es) whose lifetime ends with the app")
            await asyncio.to_thread(self.registry.stop_on_quit)
        self.save_ui_state()
        self.exit()

    def _handle_exception(self, error: Exception) -> None:
        """An unexpected exception: save a report instead of printing a traceback.

        Textual restores the terminal and exits with code 1; the CLI prints one line.
        """
        if self.crash is None:
            self.crash = (error, write_crash_report(error, self.registry.state_dir))
        super()._handle_exception(error)
        self._exit_renderables.clear()
