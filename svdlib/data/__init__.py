"""Data: the Jamendo layout (audio, filelists, .lab labels), songs as spectrograms, excerpts."""
