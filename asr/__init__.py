"""Speech: AudioSocket audio in, Vosk transcripts and draft work orders out."""
