"""Audio in: reading files of any common format, and the front end (STFT, mel, log)."""
