"""Conferences (Asterisk's app_confbridge) and paging (app_page), built on one mixer.

config.py    confbridge.conf: user and bridge profiles, DTMF menus (file:line:col errors)
room.py      sans-I/O: who is in a room, its state (Asterisk's conf_state_*.c), what to
             play, who to remove; unit-tested without media
menu.py      sans-I/O: DTMF sequences to menu entries (digit timeout as bridge features)
mixer.py     the hot path: every member hears the sum of the others, numpy, on the media
             clock; 8 kHz, or 16 kHz when a member is wideband (G.722)
conference.py one room at run time: room state + mixer + announcer + recording
participant.py one caller's ConfBridge(): PIN, name, join, menu, leave
service.py   the rooms of one PBX: ConfBridge, CONFBRIDGE_INFO, `pbx confbridge`
paging.py    Page(): calls the phones with auto-answer headers into a conference
moh.py       the music-on-hold hook of music_on_hold_when_empty
"""
