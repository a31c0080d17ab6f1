"""A stand-in for ovos-core and the skill-rest-api companion skill, on a real message bus.

Native requests are answered the way ovos-core answers them, through message.reply() or
message.response(), which keep the request's context. Companion-skill requests (ovos.api.*,
recognizer_loop:sleep / wake_up) are answered the way skill-rest-api answers them: a fresh
"<type>.answer" message whose context only says whether data.app_key was base64(API_KEY).

Usage: ovos_responder.py --port N --api-key KEY [--host H]
Prints "ready" once connected and subscribed.
"""

import argparse
import base64
import itertools
import socket
import sys
import threading

from ovos_bus_client import MessageBusClient
from ovos_bus_client.message import Message

SKILLS = {
    "skill-ovos-hello-world.openvoiceos": {"active": True, "id": "skill-ovos-hello-world.openvoiceos"},
    "skill-ovos-date-time.openvoiceos": {"active": True, "id": "skill-ovos-date-time.openvoiceos"},
    "skill-rest-api.smartgic": {"active": False, "id": "skill-rest-api.smartgic"},
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

SETTINGS = {
    "hello": "world",
    "account": {"username": "me", "password": "skill-secret-5",
                "backend": {"url": "https://backend.example", "auth": {"token": "skill-secret-6", "scheme": "bearer"}}},
}


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--api-key", required=True)
    args = parser.parse_args()
    app_key = base64.b64encode(args.api_key.encode()).decode()
    counter = itertools.count(1)
    lock = threading.Lock()
    state = {"awake": True, "muted": False, "volume": 0.5}

    bus = MessageBusClient(host=args.host, port=args.port, route="/core")

    def answer(message, data):
        """skill-rest-api style: a fresh message, context says whether the key matched."""
        authenticated = message.data.get("app_key") == app_key
        bus.emit(Message(f"{message.msg_type}.answer" if not message.msg_type.startswith("recognizer_loop:")
                         else f"ovos.api.{message.msg_type.split(':', 1)[1]}.answer",
                         data=data if authenticated else {},
                         context={"authenticated": authenticated}))

    def info(message):
        with lock:
            n = next(counter)
        answer(message, {
            "core_version": f"0.0.8-{n}", "name": "hey_mycroft",
            "locales": {"city": "Montreal", "country": "Canada", "lang": "en-us", "timezone": "America/Toronto"},
            "system": {"architecture": "x86_64", "kernel": "6.1", "os": "Linux"},
            "tts_engine": "ovos-tts-plugin-server", "stt_engine": "ovos-stt-plugin-server", "log_level": "info",
        })

    def sleep(message):
        state["awake"] = False
        answer(message, {"mark": "/tmp/sleep.mark"})

    def wake_up(message):
        state["awake"] = True
        answer(message, {"mark": "sleep mark deleted"})

    def skill_settings(message):
        skill = message.data.get("skill")
        answer(message, SETTINGS if skill in SKILLS else {"error": "no settings.json file found"})

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
            if skill in SKILLS:
                SKILLS[skill]["active"] = active
                bus.emit(message.response({"result": "success"}))
            else:
                bus.emit(message.response({"error": "skill not found"}))
        return handler

    handlers = {
        "ovos.api.info": info,
        "ovos.api.config": lambda m: answer(m, CONFIG),
        "ovos.api.is_awake": lambda m: answer(m, {"is_awake": state["awake"]}),
        "ovos.api.cache": lambda m: answer(m, {"cache_type": m.data.get("cache_type"), "status": True}),
        "ovos.api.internet": lambda m: answer(m, {"status": True}),
        "ovos.api.skill_settings": skill_settings,
        "recognizer_loop:sleep": sleep,
        "recognizer_loop:wake_up": wake_up,
        "skillmanager.list": lambda m: bus.emit(m.reply("mycroft.skills.list", SKILLS)),
        "skillmanager.activate": set_active(True),
        "skillmanager.deactivate": set_active(False),
        "mycroft.mic.mute": lambda m: state.update(muted=True),
        "mycroft.mic.unmute": lambda m: state.update(muted=False),
        "mycroft.mic.get_status": lambda m: bus.emit(m.response({"muted": state["muted"]})),
        "mycroft.volume.get": volume_get,
        "mycroft.volume.set": volume_set,
    }
    for msg_type, handler in handlers.items():
        bus.on(msg_type, handler)
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
