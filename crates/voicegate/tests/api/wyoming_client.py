"""A Wyoming client for the tests (tests/api/wyoming.rs), made of the official `wyoming` package
(PyPI) alone: what Home Assistant's integration uses. Each command prints one JSON object.

    wyoming_client.py HOST PORT describe
    wyoming_client.py HOST PORT ping TEXT
    wyoming_client.py HOST PORT synthesize TEXT [VOICE]
    wyoming_client.py HOST PORT stream VOICE SENTENCE...
    wyoming_client.py HOST PORT transcribe WAV_FILE NAME LANGUAGE   (empty: not sent)
    wyoming_client.py HOST PORT raw HEX [then-ping]

Audio comes back as base64 16-bit PCM with the formats the events declared. Every wait is
bounded (READ_TIMEOUT per event).
"""

import asyncio
import base64
import json
import sys
import wave

from wyoming.asr import Transcribe, Transcript
from wyoming.audio import AudioChunk, AudioStart, AudioStop, wav_to_chunks
from wyoming.client import AsyncTcpClient
from wyoming.error import Error
from wyoming.event import async_read_event
from wyoming.info import Describe, Info
from wyoming.ping import Ping, Pong
from wyoming.tts import (
    Synthesize,
    SynthesizeChunk,
    SynthesizeStart,
    SynthesizeStop,
    SynthesizeStopped,
    SynthesizeVoice,
)

READ_TIMEOUT = 60
MAX_EVENTS = 100_000


async def next_event(client):
    return await asyncio.wait_for(client.read_event(), READ_TIMEOUT)


def error_of(event):
    err = Error.from_event(event)
    return {"error": {"text": err.text, "code": err.code}}


async def describe(client):
    await client.write_event(Describe().event())
    event = await next_event(client)
    if Error.is_type(event.type):
        return error_of(event)
    info = Info.from_event(event)
    return {"info": info.event().data}


async def ping(client, text):
    await client.write_event(Ping(text=text).event())
    event = await next_event(client)
    if Error.is_type(event.type):
        return error_of(event)
    return {"pong": Pong.from_event(event).text}


async def read_audio(client, until_stopped):
    """Audio cycles (start format, chunk formats, PCM) until audio-stop (or, streaming, until
    synthesize-stopped); the order of event types seen."""
    cycles, order, current = [], [], None
    for _ in range(MAX_EVENTS):
        event = await next_event(client)
        if event is None:
            order.append("closed")
            break
        order.append(event.type)
        if Error.is_type(event.type):
            return {**error_of(event), "cycles": cycles, "order": order}
        if AudioStart.is_type(event.type):
            start = AudioStart.from_event(event)
            current = {
                "start": [start.rate, start.width, start.channels],
                "chunk_formats": [],
                "pcm": b"",
            }
        elif AudioChunk.is_type(event.type):
            chunk = AudioChunk.from_event(event)
            fmt = [chunk.rate, chunk.width, chunk.channels]
            if fmt not in current["chunk_formats"]:
                current["chunk_formats"].append(fmt)
            current["pcm"] += chunk.audio
        elif AudioStop.is_type(event.type):
            current["pcm"] = base64.b64encode(current["pcm"]).decode()
            cycles.append(current)
            current = None
            if not until_stopped:
                break
        elif SynthesizeStopped.is_type(event.type):
            break
    return {"cycles": cycles, "order": order}


async def synthesize(client, text, voice):
    voice = SynthesizeVoice(name=voice) if voice else None
    await client.write_event(Synthesize(text=text, voice=voice).event())
    return await read_audio(client, until_stopped=False)


async def stream(client, voice, sentences):
    voice = SynthesizeVoice(name=voice)
    reader = asyncio.create_task(read_audio(client, until_stopped=True))
    await client.write_event(SynthesizeStart(voice=voice).event())
    for sentence in sentences:
        await client.write_event(SynthesizeChunk(text=sentence + " ").event())
        await asyncio.sleep(0.05)
    # The whole text again, for servers without streaming: a streaming server ignores it.
    await client.write_event(Synthesize(text=" ".join(sentences), voice=voice).event())
    await client.write_event(SynthesizeStop().event())
    return await asyncio.wait_for(reader, READ_TIMEOUT * 4)


async def transcribe(client, wav_path, name, language):
    await client.write_event(
        Transcribe(name=name or None, language=language or None).event()
    )
    with wave.open(wav_path, "rb") as wav:
        for event in wav_to_chunks(wav, 1024, start_event=True, stop_event=True):
            await client.write_event(event.event())
    event = await next_event(client)
    if Error.is_type(event.type):
        return error_of(event)
    transcript = Transcript.from_event(event)
    return {"text": transcript.text, "language": transcript.language}


async def raw(host, port, data, then_ping):
    """Sends bytes as they are and reads what comes back with the package's own reader."""
    reader, writer = await asyncio.open_connection(host, port)
    writer.write(data)
    await writer.drain()
    events = []
    first = await asyncio.wait_for(async_read_event(reader), READ_TIMEOUT)
    events.append(None if first is None else {"type": first.type, "data": first.data})
    if then_ping:
        writer.write((json.dumps({"type": "ping", "data": {"text": "again"}}) + "\n").encode())
        await writer.drain()
        second = await asyncio.wait_for(async_read_event(reader), READ_TIMEOUT)
        events.append(None if second is None else {"type": second.type, "data": second.data})
    else:
        # After a bad frame the server closes the connection.
        after = await asyncio.wait_for(reader.read(1), READ_TIMEOUT)
        events.append({"closed": after == b""})
    writer.close()
    return {"events": events}


async def main():
    host, port, command, *args = sys.argv[1:]
    port = int(port)
    if command == "raw":
        result = await raw(host, port, bytes.fromhex(args[0]), len(args) > 1)
        print(json.dumps(result))
        return
    async with AsyncTcpClient(host, port) as client:
        if command == "describe":
            result = await describe(client)
        elif command == "ping":
            result = await ping(client, args[0])
        elif command == "synthesize":
            result = await synthesize(client, args[0], args[1] if len(args) > 1 else None)
        elif command == "stream":
            result = await stream(client, args[0], args[1:])
        elif command == "transcribe":
            result = await transcribe(client, args[0], args[1], args[2])
        else:
            raise SystemExit(f"unknown command {command}")
    print(json.dumps(result))


if __name__ == "__main__":
    asyncio.run(main())
