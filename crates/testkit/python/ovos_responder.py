"""A stand-in for ovos-core, its listener and the skill-rest-api companion skill, on a real bus.

Native requests are answered the way ovos-core and ovos-dinkum-listener answer them, through
message.reply() or message.response(), which keep the request's context. Companion-skill
requests (ovos.api.*, recognizer_loop:sleep / wake_up) are answered the way the published
skill-rest-api answers them:
  - its handlers are registered --answers times (the skill registers them again whenever its
    settings change), so every request is answered that many times;
  - each handler first checks data.app_key against base64(API_KEY); on a mismatch it answers
    "<request type>.answer" {"error": "both keys don't match"} with context
    {"authenticated": false}; its authentication flag is sticky, so once any request had the
    right key the handler goes on to answer with the data after the refusal; with an empty
    --api-key (no key in the skill's settings) it answers
    {"error": "no api key detected from home.mycroft.ai"} instead;
  - answers are fresh "<type>.answer" messages whose context is {"authenticated": <flag>};
  - a settings read answers the settings, then {"error": "no settings.json file found"};
    wake-up answers "sleep mark deleted" (when there was one), then "no sleep mark to delete".
The skill is listed in the skill list as skill-rest-api.smartgic (--skill active), listed but
inactive and silent until skillmanager.activate (--skill inactive), or not installed at all
(--skill absent). The listener obeys recognizer_loop:sleep / wake_up whatever the skill does and
answers recognizer_loop:state.get.

Usage: ovos_responder.py --port N --api-key KEY [--host H] [--answers N]
                         [--skill active|inactive|absent] [--config FILE]
Prints "ready" once connected and subscribed.
"""

import argparse
import base64
import itertools
import json
import socket
import sys
import threading

from ovos_bus_client import MessageBusClient
from ovos_bus_client.message import Message

REST_API = "skill-rest-api.smartgic"

SKILLS = {
    "skill-ovos-hello-world.openvoiceos": {"active": True, "id": "skill-ovos-hello-world.openvoiceos"},
    "skill-ovos-date-time.openvoiceos": {"active": True, "id": "skill-ovos-date-time.openvoiceos"},
    "skill-ovos-weather.openvoiceos": {"active": False, "id": "skill-ovos-weather.openvoiceos"},
}

CONFIG = {
    "lang": "en-us",
    "log_level": "INFO",
    "websocket": {"host": "127.0.0.1", "port": 8181},
    "stt": {"module": "ovos-stt-plugin-server", "api_key": "stt-secret-1",
            "ovos-stt-plugin-server": {"url": "https://stt.example", "credentials": {"token": "stt-secret-2"}}},
    "tts": {"module": "ovos-tts-plugin-server", "password": "tts-secret-3"},
    "microservices": {"weather": {"provider": {"secret_access_key": "aws-secret-4", "region": "eu"}}},
}

# Each skill's settings.json; a skill missing here has none.
SETTINGS = {
    "skill-ovos-hello-world.openvoiceos": {
        "hello": "world",
        "account": {"username": "me", "password": "skill-secret-5",
                    "backend": {"url": "https://backend.example",
                                "auth": {"token": "skill-secret-6", "scheme": "bearer"}}},
    },
    "skill-ovos-date-time.openvoiceos": {"use_24hour": True, "date_format": "DMY", "show_time": False},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    parser.add_argument("--answers", type=int, default=3)
    parser.add_argument("--skill", choices=["active", "inactive", "absent"], default="active")
    parser.add_argument("--config")
    args = parser.parse_args()
    app_key = base64.b64encode(args.api_key.encode()).decode()
    config = CONFIG
    if args.config:
        with open(args.config, encoding="utf-8") as f:
            config = json.load(f)
    counter = itertools.count(1)
    lock = threading.Lock()
    state = {"muted": False, "volume": 0.5, "listener": "wakeword", "mark": False, "authenticated": False}
    skills = {k: dict(v) for k, v in SKILLS.items()}
    if args.skill != "absent":
        skills[REST_API] = {"active": args.skill == "active", "id": REST_API}
    settings = dict(SETTINGS)
    settings[REST_API] = {"api_key": args.api_key}

    bus = MessageBusClient(host=args.host, port=args.port, route="/core")

    # --- the skill, as published ---------------------------------------------------------------
    def send(msg_type, data):
        bus.emit(Message(msg_type, data=data, context={"authenticated": state["authenticated"]}))

    def check_auth(message):
        if not args.api_key:
            error = "no api key detected from home.mycroft.ai"
        elif message.data.get("app_key") == app_key:
            state["authenticated"] = True
            return True
        else:
            error = "both keys don't match"
        bus.emit(Message(f"{message.msg_type}.answer", data={"error": error},
                         context={"authenticated": False}))
        return False

    def skill_handler(handle):
        def handler(message):
            if not skills.get(REST_API, {}).get("active"):
                return
            check_auth(message)
            if state["authenticated"]:
                handle(message)
        return handler

    def info(message):
        with lock:
            n = next(counter)
        send("ovos.api.info.answer", {
            "core_version": f"0.0.8-{n}", "name": "hey_mycroft",
            "locales": {"city": "Montreal", "country": "Canada", "lang": "en-us", "timezone": "America/Toronto"},
            "system": {"architecture": "x86_64", "kernel": "6.1", "os": "Linux"},
            "tts_engine": "ovos-tts-plugin-server", "stt_engine": "ovos-stt-plugin-server", "log_level": "info",
        })

    def skill_settings(message):
        found = settings.get(message.data.get("skill"))
        if found is not None:
            send("ovos.api.skill_settings.answer", found)
        send("ovos.api.skill_settings.answer", {"error": "no settings.json file found"})

    def skill_sleep(message):
        with lock:
            state["mark"] = True
        send("ovos.api.sleep.answer", {"mark": "/tmp/sleep.mark"})

    def skill_wake_up(message):
        with lock:
            had_mark, state["mark"] = state["mark"], False
        if had_mark:
            send("ovos.api.wake_up.answer", {"mark": "sleep mark deleted"})
        send("ovos.api.wake_up.answer", {"mark": "no sleep mark to delete"})

    skill_handlers = {
        "ovos.api.info": info,
        "ovos.api.config": lambda m: send("ovos.api.config.answer", config),
        "ovos.api.is_awake": lambda m: send("ovos.api.is_awake.answer", {"is_awake": not state["mark"]}),
        "ovos.api.cache": lambda m: send("ovos.api.cache.answer",
                                         {"cache_type": m.data.get("cache_type"), "status": True}),
        "ovos.api.internet": lambda m: send("ovos.api.internet.answer", {"status": True}),
        "ovos.api.skill_settings": skill_settings,
        "recognizer_loop:sleep": skill_sleep,
        "recognizer_loop:wake_up": skill_wake_up,
    }

    # --- ovos-core and the listener --------------------------------------------------------------
    def volume_get(message):
        with lock:
            n = next(counter)
        # Each answer differs a little, so concurrent callers can tell theirs apart.
        bus.emit(message.response({"percent": state["volume"] + n / 10000.0, "muted": False}))

    def volume_set(message):
        state["volume"] = float(message.data.get("percent", 0))

    def set_active(active):
        def handler(message):
            skill = message.data.get("skill")
            if skill in skills:
                skills[skill]["active"] = active
                bus.emit(message.response({"result": "success"}))
            else:
                bus.emit(message.response({"error": "skill not found"}))
        return handler

    def listener_state(message):
        bus.emit(message.reply("recognizer_loop:state", {"mode": "wakeword", "state": state["listener"]}))

    native_handlers = {
        "skillmanager.list": lambda m: bus.emit(Message("mycroft.skills.list", skills)),
        "skillmanager.activate": set_active(True),
        "skillmanager.deactivate": set_active(False),
        "mycroft.mic.mute": lambda m: state.update(muted=True),
        "mycroft.mic.unmute": lambda m: state.update(muted=False),
        "mycroft.mic.get_status": lambda m: bus.emit(m.response({"muted": state["muted"]})),
        "mycroft.volume.get": volume_get,
        "mycroft.volume.set": volume_set,
        "recognizer_loop:sleep": lambda m: state.update(listener="sleeping"),
        "recognizer_loop:wake_up": lambda m: state.update(listener="wakeword"),
        "recognizer_loop:state.get": listener_state,
    }
    for msg_type, handler in native_handlers.items():
        bus.on(msg_type, handler)
    if args.skill != "absent":
        for _ in range(args.answers):
            for msg_type, handle in skill_handlers.items():
                bus.on(msg_type, skill_handler(handle))
    bus.run_in_thread()
    if not bus.connected_event.wait(10):
        print("could not connect", flush=True)
        sys.exit(1)
    # Small messages must not wait for Nagle's algorithm to meet a delayed ACK (about 40 ms):
    # send at once, and acknowledge every message at once (Linux clears quick ACK, so re-arm it).
    raw_socket = bus.client.sock.sock
    raw_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def quick_ack(*_):
        try:
            raw_socket.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
        except OSError:
            pass

    quick_ack()
    bus.on("message", quick_ack)
    print("ready", flush=True)
    threading.Event().wait()


if __name__ == "__main__":
    main()
