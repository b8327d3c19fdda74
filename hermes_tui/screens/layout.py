"""The main screen's layout: the terminal gets the room."""

# Room for the terminal: the chat takes a quarter of a wide screen (32-60 columns), the
# list only the rows it needs (up to 40%), the terminal the rest. Below NARROW columns
# the chat and the right side take turns at the full width (F2 / F3 / F4 switch).
MAIN_SCREEN_CSS = """
MainScreen #panes {
    height: 1fr;
}
MainScreen #chat {
    width: 25%;
    min-width: 32;
    max-width: 60;
}
MainScreen #right {
    width: 1fr;
}
MainScreen #processes {
    height: auto;
    max-height: 40%;
    min-height: 5;
}
MainScreen #terminal {
    height: 1fr;
    min-height: 6;
}
MainScreen.-narrow #chat { width: 1fr; max-width: 100%; }
MainScreen.-chat-hidden #chat { display: none; }
MainScreen.-right-hidden #right { display: none; }
MainScreen.-zoom-chat #right { display: none; }
MainScreen.-zoom-processes #chat, MainScreen.-zoom-processes #terminal { display: none; }
MainScreen.-zoom-terminal #chat, MainScreen.-zoom-terminal #processes { display: none; }
"""
