#!/usr/bin/env python3
"""The packaged server's smoke test: serve, create a user with the CLI, log in, synthesize a
sentence with espeak-ng and with flite over HTTP, check the WAV files, stop with SIGTERM.

    package_smoke.py --unit /usr/lib/systemd/system/voicegate.service
        runs ExecStart as the unit would (scripts/package-test): as its User and Group with its
        SupplementaryGroups, its WorkingDirectory, Environment, UMask, NoNewPrivileges and
        MemoryDenyWriteExecute, and, as root, ProtectSystem=strict, ProtectHome and PrivateTmp
        approximated in a mount namespace (the root read-only but for the StateDirectory).
    package_smoke.py --wrap 'qemu-aarch64 -L /' -- BINARY --config FILE --data-dir DIR serve
        runs the command given (scripts/arm64-smoke).

The server listens on a free loopback port (VOICEGATE_LISTEN, added to the environment).
Every wait is bounded; the first failure ends the test with a message and a non-zero status.
"""

import argparse
import ctypes
import json
import grp
import io
import os
import pwd
import shlex
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
import wave

USER = "smoke"
PASSWORD = "smoke-test-password"
SENTENCE = "The package works on this machine."


def fail(message):
    print(f"package smoke test: FAILED: {message}", file=sys.stderr)
    sys.exit(1)


def parse_unit(path):
    """The [Service] settings of a unit file: name -> list of values (in order)."""
    settings = {}
    section = None
    with open(path, encoding="utf-8") as unit:
        for line in unit:
            line = line.strip()
            if not line or line.startswith(("#", ";")):
                continue
            if line.startswith("["):
                section = line
                continue
            if section == "[Service]" and "=" in line:
                key, value = line.split("=", 1)
                settings.setdefault(key.strip(), []).append(value.strip())
    return settings


def unit_value(settings, key, default=None):
    values = settings.get(key)
    return values[-1] if values else default


def unit_yes(settings, key):
    return unit_value(settings, key, "no").lower() in ("yes", "true", "1", "on")


def unit_environment(settings):
    env = {}
    for line in settings.get("Environment", []):
        for assignment in shlex.split(line):
            key, _, value = assignment.partition("=")
            env[key] = value
    return env


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


PR_SET_MDWE = 65
PR_MDWE_REFUSE_EXEC_GAIN = 1


def deny_write_execute():
    """MemoryDenyWriteExecute: the kernel's MDWE (Linux 6.3+), kept across exec."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(PR_SET_MDWE, PR_MDWE_REFUSE_EXEC_GAIN, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_MDWE)")


def mdwe_supported():
    """Whether this kernel has PR_SET_MDWE (tried in a child, which the flag cannot outlive)."""
    probe = "import ctypes; l = ctypes.CDLL(None); raise SystemExit(l.prctl(65, 1, 0, 0, 0) != 0)"
    return subprocess.run([sys.executable, "-c", probe], check=False).returncode == 0


def mount_namespaces():
    """Whether this process may make a mount namespace and remount in it (root with
    CAP_SYS_ADMIN)."""
    probe = ["unshare", "--mount", "--", "mount", "--make-rprivate", "/"]
    try:
        return subprocess.run(probe, check=False, capture_output=True).returncode == 0
    except OSError:
        return False


class UnitRunner:
    """Runs commands the way the unit runs ExecStart."""

    def __init__(self, unit_path):
        self.settings = parse_unit(unit_path)
        exec_start = unit_value(self.settings, "ExecStart")
        if not exec_start:
            fail(f"{unit_path}: no ExecStart")
        self.command = shlex.split(exec_start.lstrip("-@:+!"))
        user = unit_value(self.settings, "User")
        if not user:
            fail(f"{unit_path}: no User (the service must not run as root)")
        self.user = pwd.getpwnam(user)
        group = unit_value(self.settings, "Group", user)
        self.gid = grp.getgrnam(group).gr_gid
        groups = [self.gid]
        for line in self.settings.get("SupplementaryGroups", []):
            for name in line.split():
                groups.append(grp.getgrnam(name).gr_gid)
        self.groups = groups
        self.cwd = unit_value(self.settings, "WorkingDirectory", "/")
        self.umask = int(unit_value(self.settings, "UMask", "0022"), 8)
        self.state_dirs = [
            f"/var/lib/{name}"
            for line in self.settings.get("StateDirectory", [])
            for name in line.split()
        ]
        self.mdwe = unit_yes(self.settings, "MemoryDenyWriteExecute")
        if self.mdwe and not mdwe_supported():
            print("package smoke test: this kernel lacks PR_SET_MDWE; "
                  "MemoryDenyWriteExecute not applied")
            self.mdwe = False
        self.sandbox = unit_value(self.settings, "ProtectSystem") == "strict"
        if self.sandbox and not mount_namespaces():
            print("package smoke test: no mount namespace here (not root, or a container "
                  "without CAP_SYS_ADMIN); ProtectSystem, ProtectHome, PrivateTmp not applied")
            self.sandbox = False

    def environment(self, port):
        env = {
            "PATH": "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "LANG": "C.UTF-8",
            "HOME": self.user.pw_dir,
            "USER": self.user.pw_name,
            "LOGNAME": self.user.pw_name,
            "SHELL": self.user.pw_shell,
        }
        if self.state_dirs:
            env["STATE_DIRECTORY"] = ":".join(self.state_dirs)
        env.update(unit_environment(self.settings))
        env["VOICEGATE_LISTEN"] = f"127.0.0.1:{port}"
        return env

    def argv(self, command):
        """setpriv for the user, groups and no_new_privs, inside the mount namespace."""
        privileges = [
            "setpriv",
            f"--reuid={self.user.pw_uid}",
            f"--regid={self.gid}",
            "--groups=" + ",".join(str(g) for g in self.groups),
            "--inh-caps=-all",
        ]
        if unit_yes(self.settings, "NoNewPrivileges"):
            privileges.append("--no-new-privs")
        privileges += ["--", *command]
        if not self.sandbox:
            return privileges
        # ProtectSystem=strict (everything read-only but the state directories), ProtectHome=yes
        # and PrivateTmp=yes, approximated: systemd's own namespace is finer (/dev, /proc, /sys).
        steps = ["set -e", "mount --make-rprivate /"]
        steps += [f"mount --bind {shlex.quote(d)} {shlex.quote(d)}" for d in self.state_dirs]
        steps.append("mount -o remount,bind,ro /")
        if unit_yes(self.settings, "PrivateTmp"):
            steps += ["mount -t tmpfs -o mode=1777 tmpfs /tmp",
                      "mount -t tmpfs -o mode=1777 tmpfs /var/tmp"]
        if unit_value(self.settings, "ProtectHome") in ("yes", "true", "tmpfs"):
            steps += [f"mount -t tmpfs -o mode=0755 tmpfs {d}"
                      for d in ("/home", "/root") if os.path.isdir(d)]
        steps.append(f"cd {shlex.quote(self.cwd)}")
        steps.append('exec "$@"')
        return ["unshare", "--mount", "--", "sh", "-c", "\n".join(steps), "sandbox", *privileges]

    def popen(self, command, port, **kwargs):
        mdwe = self.mdwe
        umask = self.umask

        def before_exec():
            os.umask(umask)
            if mdwe:
                deny_write_execute()

        return subprocess.Popen(
            self.argv(command),
            cwd=self.cwd,
            env=self.environment(port),
            preexec_fn=before_exec,
            **kwargs,
        )


class CommandRunner:
    """Runs the command given, behind an optional prefix (qemu-aarch64 -L /)."""

    def __init__(self, command, wrap):
        self.command = command
        self.wrap = shlex.split(wrap) if wrap else []

    def popen(self, command, port, **kwargs):
        env = dict(os.environ)
        env["VOICEGATE_LISTEN"] = f"127.0.0.1:{port}"
        return subprocess.Popen([*self.wrap, *command], env=env, **kwargs)


def with_subcommand(command, subcommand):
    """The serve command line with `serve` (and what follows) replaced by another command."""
    if "serve" not in command:
        fail(f"no `serve` in {command}")
    return command[: command.index("serve")] + subcommand


def http(method, url, body=None, token=None, timeout=30):
    headers = {}
    data = None
    if body is not None:
        data = json.dumps(body).encode()
        headers["Content-Type"] = "application/json"
    if token:
        headers["Authorization"] = f"Bearer {token}"
    request = urllib.request.Request(url, data=data, method=method, headers=headers)
    with urllib.request.urlopen(request, timeout=timeout) as answer:
        return answer.status, answer.headers, answer.read()


def wait_until_up(server, base, limit):
    deadline = time.monotonic() + limit
    while time.monotonic() < deadline:
        if server.poll() is not None:
            fail(f"the server ended with status {server.returncode} before it answered")
        try:
            status, _, _ = http("GET", f"{base}/v1/network/ping", timeout=2)
            if status == 200:
                return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    fail(f"the server did not answer /v1/network/ping within {limit} s")


def check_wav(name, data, rate):
    if data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        fail(f"{name}: not a WAV file (starts {data[:12]!r})")
    riff_size = int.from_bytes(data[4:8], "little")
    if riff_size in (0, 0xFFFFFFFF) or riff_size != len(data) - 8:
        fail(f"{name}: RIFF size {riff_size:#x} for {len(data)} bytes")
    with wave.open(io.BytesIO(data), "rb") as audio:
        frames = audio.getnframes()
        if audio.getframerate() != rate:
            fail(f"{name}: rate {audio.getframerate()}, expected {rate}")
        if audio.getsampwidth() != 2 or audio.getnchannels() != 1:
            fail(f"{name}: {audio.getsampwidth()} bytes x {audio.getnchannels()} channels")
        if frames == 0 or frames == 0xFFFFFFFF // 2:
            fail(f"{name}: {frames} frames")
        samples = audio.readframes(frames)
    peak = max(abs(int.from_bytes(samples[i : i + 2], "little", signed=True))
               for i in range(0, len(samples), 2))
    if peak < 1000:
        fail(f"{name}: silent (peak {peak})")
    seconds = frames / rate
    if not 0.5 < seconds < 10:
        fail(f"{name}: {seconds:.2f} s for one sentence")
    print(f"package smoke test: {name}: {frames} frames at {rate} Hz ({seconds:.2f} s), "
          f"peak {peak}")


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--unit", help="run ExecStart of this unit file as the unit would")
    parser.add_argument("--wrap", default="", help="prefix for the command (an emulator)")
    parser.add_argument("--start-timeout", type=float, default=60.0)
    parser.add_argument("command", nargs="*", help="the serve command (without --unit)")
    args = parser.parse_args()
    if args.unit:
        runner = UnitRunner(args.unit)
        command = runner.command
    elif args.command:
        runner = CommandRunner(args.command, args.wrap)
        command = args.command
    else:
        fail("give --unit FILE or a command")

    port = free_port()
    base = f"http://127.0.0.1:{port}"
    started = time.monotonic()
    server = runner.popen(command, port)
    try:
        wait_until_up(server, base, args.start_timeout)
        print(f"package smoke test: serving after {time.monotonic() - started:.1f} s")

        adder = runner.popen(
            with_subcommand(command, ["user", "add", USER, "--password-stdin"]),
            port,
            stdin=subprocess.PIPE,
        )
        try:
            adder.communicate(f"{PASSWORD}\n".encode(), timeout=args.start_timeout)
        except subprocess.TimeoutExpired:
            adder.kill()
            fail("`user add` did not finish")
        if adder.returncode != 0:
            fail(f"`user add` ended with status {adder.returncode}")

        status, _, body = http(
            "POST", f"{base}/v1/auth/tokens", {"user": USER, "password": PASSWORD}
        )
        token = json.loads(body)["access_token"]
        # espeak-ng speaks at 22.05 kHz and flite at 16 kHz; each is asked for the other's rate,
        # so the resampler runs too.
        for voice, rate in (("espeak:en-us", 16000), ("flite:slt", 22050)):
            query = urllib.parse.urlencode(
                {"download_token": voice, "script": SENTENCE, "sample_rate": rate}
            )
            begun = time.monotonic()
            status, headers, data = http(
                "GET", f"{base}/api/v1/external/synthesis/?{query}", token=token, timeout=120
            )
            if status != 200 or headers.get("Content-Type") != "audio/wav":
                fail(f"{voice}: {status} {headers.get('Content-Type')}")
            print(f"package smoke test: {voice} synthesized in {time.monotonic() - begun:.2f} s")
            check_wav(voice, data, rate)

        stopping = time.monotonic()
        server.send_signal(signal.SIGTERM)
        try:
            code = server.wait(timeout=60)
        except subprocess.TimeoutExpired:
            fail("the server did not stop within 60 s of SIGTERM")
        if code != 0:
            fail(f"the server ended with status {code} after SIGTERM")
        print(f"package smoke test: stopped by SIGTERM in {time.monotonic() - stopping:.2f} s; "
              f"passed in {time.monotonic() - started:.1f} s")
    except urllib.error.HTTPError as error:
        fail(f"{error.url}: {error.code} {error.read()[:300]!r}")
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()


if __name__ == "__main__":
    main()
