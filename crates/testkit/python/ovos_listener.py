"""Runs ovos-dinkum-listener as `ovos-dinkum-listener` does, with one change to its test microphone.

The files microphone answers "no audio" at once while no file is waiting, and the listener's
loop asks again straight away: one core spins at 100 % for as long as the listener runs. Here,
as a real microphone would, it waits one chunk's duration before saying there is no audio.
"""

import time

from ovos_microphone_plugin_files import FilesMicrophone

_read_chunk = FilesMicrophone.read_chunk


def _paced_read_chunk(self):
    chunk = _read_chunk(self)
    if chunk is None:
        time.sleep(self.seconds_per_chunk)
    return chunk


FilesMicrophone.read_chunk = _paced_read_chunk

if __name__ == "__main__":
    from ovos_dinkum_listener.__main__ import main

    main()
