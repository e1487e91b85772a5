"""The verify cache trusts only itself (as ssh's StrictModes): a folder of this user with mode
0700, entries of this user that no one else may write, never a symlink; and an entry never
outlives a change of the file, even one whose mtime was put back."""

from __future__ import annotations

import json
import os
import pwd
import shutil
from pathlib import Path

import pytest

from examples.integrity import card as cards
from examples.runner import client
from tests.helpers_runner import BUILD_DIR, VERIFICATION, ensure_runner, short_fresh_window, wait_until_not_fresh

pytestmark = pytest.mark.usefixtures("short_fresh_window")


@pytest.fixture(scope="module")
def cached_setup(programs, tmp_path_factory):
    """A carded program over 2 s old and a private cache that remembers it."""
    runner = ensure_runner(BUILD_DIR)
    source = programs.get("linear", "fp32")
    folder = tmp_path_factory.mktemp("trust")
    program = folder / source.name
    shutil.copyfile(source, program)
    cards.write_card(program, cards.read_card(source))
    wait_until_not_fresh()
    return runner, program, folder


def _run(runner, program, cache):
    done = client.run_raw(runner, f"--model_path={program}", "--num_iters=1", "--warmup_iters=0", "--json",
                          f"--verify_cache={cache}")
    return done, (json.loads(done.stdout) if done.returncode == 0 else None)


def _warm(runner, program, cache: Path) -> Path:
    """The cache folder, created by the runner, holding a hit for ``program`` (checked)."""
    _run(runner, program, cache)
    done, report = _run(runner, program, cache)
    assert report["verify_cached"] and done.stderr == "", done.stderr
    (entry,) = cache.iterdir()
    assert oct(cache.stat().st_mode & 0o777) == "0o700"
    return entry


def _assert_not_trusted(runner, program, cache, why: str):
    done, report = _run(runner, program, cache)
    assert done.returncode == 0 and not report["verify_cached"], done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("warning: not using the verify cache") and why in lines[0], lines


def test_a_group_writable_folder_is_not_trusted(cached_setup, tmp_path):
    runner, program, _ = cached_setup
    cache = tmp_path / "cache"
    _warm(runner, program, cache)
    cache.chmod(0o770)
    _assert_not_trusted(runner, program, cache, "its mode is not 0700")


def test_a_folder_of_another_user_is_not_trusted(cached_setup, tmp_path):
    runner, program, _ = cached_setup
    if os.geteuid() != 0:
        pytest.skip("chown to another user needs root")
    cache = tmp_path / "cache"
    entry = _warm(runner, program, cache)
    nobody = pwd.getpwnam("nobody")
    os.chown(cache, nobody.pw_uid, nobody.pw_gid)
    _assert_not_trusted(runner, program, cache, "belongs to another user")
    os.chown(cache, 0, 0)
    os.chown(entry, nobody.pw_uid, nobody.pw_gid)  # an entry of another user, in a private folder
    _assert_not_trusted(runner, program, cache, "not a file that only this user may write")


def test_a_writable_or_symlinked_entry_is_not_trusted(cached_setup, tmp_path):
    runner, program, _ = cached_setup
    cache = tmp_path / "cache"
    entry = _warm(runner, program, cache)
    entry.chmod(0o666)
    _assert_not_trusted(runner, program, cache, "not a file that only this user may write")
    entry.chmod(0o644)
    elsewhere = tmp_path / "planted.json"
    entry.rename(elsewhere)
    entry.symlink_to(elsewhere)
    _assert_not_trusted(runner, program, cache, "is a symlink")


def test_an_in_place_rewrite_with_its_mtime_put_back_is_hashed(cached_setup, tmp_path):
    runner, program, folder = cached_setup
    copy = folder / "rewritten.pte"
    shutil.copyfile(program, copy)
    cards.write_card(copy, cards.read_card(program))
    old = copy.stat()
    wait_until_not_fresh()
    cache = tmp_path / "cache"
    _warm(runner, copy, cache)
    data = bytearray(copy.read_bytes())
    data[-8] ^= 0x40  # a weight near the end
    with open(copy, "r+b") as f:
        f.write(bytes(data))
    os.utime(copy, ns=(old.st_atime_ns, old.st_mtime_ns))
    assert copy.stat().st_mtime_ns == old.st_mtime_ns and copy.stat().st_ino == old.st_ino
    done, _ = _run(runner, copy, cache)
    assert done.returncode == VERIFICATION and "does not match its card" in done.stderr, done.stderr
    with open(copy, "r+b") as f:  # the same bytes written back: checked again, not taken from the cache
        f.write(program.read_bytes())
    os.utime(copy, ns=(old.st_atime_ns, old.st_mtime_ns))
    done, report = _run(runner, copy, cache)
    assert done.returncode == 0 and not report["verify_cached"], done.stderr


def _assert_never_cached(runner, program, cache: Path):
    for _ in range(2):  # a second run would be the cache hit
        done, report = _run(runner, program, cache)
        assert done.returncode == 0 and not report["verify_cached"], done.stderr
    assert not cache.exists() or not list(cache.iterdir())


def test_a_program_on_a_removable_drive_is_never_remembered(cached_setup, tmp_path, monkeypatch):
    """The rule reads /sys/dev/block/<major>:<minor>/removable; a test cannot plug in a drive, so
    it points the runner at a stand-in folder that says the program's own device is removable."""
    runner, program, _ = cached_setup
    device = program.stat().st_dev
    flag = tmp_path / "sys" / f"{os.major(device)}:{os.minor(device)}" / "removable"
    flag.parent.mkdir(parents=True)
    monkeypatch.setenv("XNN_RUNNER_TEST_SYS_DEV_BLOCK", str(tmp_path / "sys"))
    flag.write_text("1\n")
    _assert_never_cached(runner, program, tmp_path / "cache")
    flag.write_text("0\n")  # the same device, not removable: remembered
    _warm(runner, program, tmp_path / "cache")


@pytest.fixture
def loop_mount(tmp_path):
    """A fresh ext4 image mounted through a loop device (major 7); skips where that is not allowed
    (it needs root and a kernel that lends loop devices to this container)."""
    import subprocess

    tools = [shutil.which(t) for t in ("losetup", "mkfs.ext4", "mount", "umount")]
    if os.geteuid() != 0 or not all(tools):
        pytest.skip("a loop mount needs root, losetup, mkfs.ext4 and mount")
    image, mount = tmp_path / "drive.img", tmp_path / "mnt"
    with open(image, "wb") as f:
        f.truncate(16 << 20)
    mount.mkdir()
    attach = subprocess.run(["losetup", "-f", "--show", str(image)], capture_output=True, text=True)
    if attach.returncode != 0:
        pytest.skip(f"cannot attach a loop device here: {attach.stderr.strip()}")
    device = attach.stdout.strip()
    try:
        made = subprocess.run(["mkfs.ext4", "-q", device], capture_output=True, text=True)
        mounted = made.returncode == 0 and subprocess.run(["mount", device, str(mount)], capture_output=True).returncode == 0
        if not mounted:
            pytest.skip(f"cannot make or mount a file system on {device} here")
        try:
            yield mount
        finally:
            subprocess.run(["umount", str(mount)], capture_output=True)
    finally:
        subprocess.run(["losetup", "-d", device], capture_output=True)


def test_a_program_on_a_loop_device_is_never_remembered(cached_setup, loop_mount, tmp_path):
    runner, source, _ = cached_setup
    program = loop_mount / source.name
    shutil.copyfile(source, program)
    cards.write_card(program, cards.read_card(source))
    assert os.major(program.stat().st_dev) == 7
    wait_until_not_fresh()  # past the fresh-file rule: only the device keeps it out of the cache
    _assert_never_cached(runner, program, tmp_path / "cache")
