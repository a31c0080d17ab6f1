"""Stands in for the audio player of ovos-audio: keeps a copy of each file it is given and takes
as long as the sound lasts (at most 10 s), so that speech can be stopped while it plays.

Usage: ovos_player.py PLAYED_DIR FILE
"""

import shutil
import sys
import time
import wave
from pathlib import Path


def duration(path: Path) -> float:
    try:
        with wave.open(str(path)) as sound:
            return sound.getnframes() / float(sound.getframerate())
    except (wave.Error, EOFError, OSError):
        return 0.2  # not a WAV file (mp3, ogg): a short sound


def main():
    played, source = Path(sys.argv[1]), Path(sys.argv[2])
    # Numbered copies, in the order they were played.
    number = len(list(played.iterdir())) + 1
    shutil.copyfile(source, played / f"{number:04d}-{source.name}")
    time.sleep(min(duration(source), 10.0))


if __name__ == "__main__":
    main()
