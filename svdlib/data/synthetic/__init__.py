"""The embedded corpus: seeded songs, a Sinsy-sung voice and a SoundFont band, Jamendo layout.

Needs the ``corpus`` extra (pysinsy, pretty_midi, tinysoundfont).
"""
