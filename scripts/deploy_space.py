"""Put the playground on a Hugging Face Space, in one command.

    python scripts/deploy_space.py --repo-id USER/NAME            # create the Space (if new) and upload
    python scripts/deploy_space.py --repo-id USER/NAME --dry-run  # list and check, upload nothing

What goes up is what a Space runs: app.py, the library, the weights, the scripts that made them,
README.md (its front matter configures the Space), requirements.txt and .gitattributes. Tests,
training checkpoints and candidates stay here. Before anything is uploaded the files are checked
against the Hub's rules: a file over 10 MB, and any binary file, must be stored through LFS/Xet,
which the repository's .gitattributes must say (so that `git push` to the Space works too); the
front matter must name the Gradio SDK at the version requirements.txt pins, and app.py. The
upload itself is huggingface_hub's `upload_folder`, which sends large files through LFS/Xet.

Log in first with `hf auth login`, or set HF_TOKEN.
"""

from __future__ import annotations

import argparse
import fnmatch
import re
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

# What a Space needs, as paths relative to the repository root (folders: all their files).
INCLUDE = ["app.py", "README.md", "requirements.txt", ".gitattributes", "playground", "weights", "scripts"]
EXCLUDE = ["*.pyc", "*/__pycache__/*", "weights/*/*/training/before/*"]

MAX_PLAIN_BYTES = 10 * 2**20  # the Hub refuses a file over 10 MB that is not stored through LFS/Xet
MAX_FILE_BYTES = 50 * 2**30  # and any single file over 50 GB
SPACE_SOFT_LIMIT_BYTES = 1 * 2**30  # a Space repository is meant to stay under 1 GB


@dataclass(frozen=True)
class Entry:
    path: str  # relative, with forward slashes
    size: int
    binary: bool
    lfs: bool  # covered by an LFS pattern of .gitattributes


def lfs_patterns(root: Path) -> list[str]:
    """The patterns .gitattributes sends through LFS (`filter=lfs`)."""
    attributes = root / ".gitattributes"
    if not attributes.is_file():
        return []
    patterns = []
    for line in attributes.read_text().splitlines():
        parts = line.split()
        if len(parts) >= 2 and not line.lstrip().startswith("#") and "filter=lfs" in parts[1:]:
            patterns.append(parts[0])
    return patterns


def matches(path: str, pattern: str) -> bool:
    """git's attribute matching, for the patterns .gitattributes uses: a pattern without a slash
    matches the file name at any depth; with one, the path from the root (`**` any folders)."""
    if "/" not in pattern.rstrip("/"):
        return fnmatch.fnmatchcase(path.rsplit("/", 1)[-1], pattern)
    pattern = pattern.lstrip("/")
    regex = re.escape(pattern).replace(r"\*\*/", "(?:.*/)?").replace(r"\*\*", ".*").replace(r"\*", "[^/]*")
    regex = regex.replace(r"\?", "[^/]")
    return re.fullmatch(regex, path) is not None


def is_binary(path: Path) -> bool:
    """The Hub's and git's test, roughly: a NUL byte in the first 8 KB, or not UTF-8 text."""
    head = path.read_bytes()[:8192]
    if b"\0" in head:
        return True
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        return exc.start < len(head) - 4  # a multi-byte character cut at the 8 KB mark is still text
    return False


def tracked(root: Path) -> set[str] | None:
    """The files git tracks under `root`, or None outside a git checkout (a downloaded copy)."""
    try:
        out = subprocess.run(
            ["git", "ls-files", "-z"], cwd=root, capture_output=True, check=True, timeout=60
        ).stdout.decode()
    except (OSError, subprocess.SubprocessError):
        return None
    return {p for p in out.split("\0") if p}


def files(root: Path) -> list[Entry]:
    """What would be uploaded: INCLUDE less EXCLUDE, and in a git checkout only tracked files
    (so nothing git ignores, such as data, checkpoints or a virtual environment, goes up)."""
    known = tracked(root)
    patterns = lfs_patterns(root)
    found = []
    for item in INCLUDE:
        base = root / item
        for path in [base] if base.is_file() else sorted(p for p in base.rglob("*") if p.is_file()):
            rel = path.relative_to(root).as_posix()
            if any(fnmatch.fnmatchcase(rel, x) for x in EXCLUDE) or (known is not None and rel not in known):
                continue
            found.append(Entry(rel, path.stat().st_size, is_binary(path), any(matches(rel, p) for p in patterns)))
    return found


def front_matter(readme: Path) -> dict[str, str]:
    """The README's YAML front matter, as flat `key: value` pairs (all a Space's card uses here)."""
    text = readme.read_text() if readme.is_file() else ""
    match = re.match(r"---\n(.*?)\n---\n", text, re.S)
    if not match:
        return {}
    pairs = {}
    for line in match.group(1).splitlines():
        key, sep, value = line.partition(":")
        if sep and not line.startswith((" ", "-")):
            pairs[key.strip()] = value.strip().strip('"').strip("'")
    return pairs


def pins(requirements: Path) -> dict[str, str]:
    """`name: version` of each `name==version` line."""
    found = {}
    for line in requirements.read_text().splitlines() if requirements.is_file() else []:
        name, sep, version = line.split("#", 1)[0].strip().partition("==")
        if sep:
            found[name.strip().lower().replace("_", "-")] = version.strip()
    return found


def check(root: Path, entries: list[Entry]) -> list[str]:
    """Every reason the Hub would refuse this upload, or the Space would not start."""
    problems = []
    for e in entries:
        if e.size > MAX_FILE_BYTES:
            problems.append(f"{e.path}: {e.size / 2**30:.1f} GB, over the Hub's 50 GB per file")
        elif (e.size > MAX_PLAIN_BYTES or e.binary) and not e.lfs:
            why = f"{e.size / 2**20:.1f} MB, over 10 MB" if e.size > MAX_PLAIN_BYTES else "a binary file"
            problems.append(f"{e.path}: {why}, and no LFS pattern of .gitattributes covers it")
    total = sum(e.size for e in entries)
    if total > SPACE_SOFT_LIMIT_BYTES:
        problems.append(f"{total / 2**30:.2f} GB in all, over the 1 GB a Space repository is meant to hold")
    meta = front_matter(root / "README.md")
    if not meta:
        problems.append("README.md has no front matter (the Space's settings: sdk, sdk_version, app_file)")
    else:
        if meta.get("sdk") != "gradio":
            problems.append(f"README.md front matter: sdk is {meta.get('sdk')!r}, not 'gradio'")
        pinned = pins(root / "requirements.txt").get("gradio")
        if not pinned:
            problems.append("requirements.txt does not pin gradio (gradio==X.Y.Z)")
        elif meta.get("sdk_version") != pinned:
            problems.append(
                f"README.md front matter: sdk_version {meta.get('sdk_version')!r} is not the gradio=={pinned} "
                "of requirements.txt"
            )
        app = meta.get("app_file", "app.py")
        if app not in {e.path for e in entries}:
            problems.append(f"README.md front matter: app_file {app!r} is not among the uploaded files")
    if not (root / "requirements.txt").is_file():
        problems.append("no requirements.txt: a Space installs its packages from it")
    return problems


def report(entries: list[Entry]) -> str:
    lines = [f"{'MB':>8}  {'how':<5}  path"]
    for e in entries:
        lines.append(f"{e.size / 2**20:8.2f}  {'lfs' if e.lfs else 'plain':<5}  {e.path}")
    total = sum(e.size for e in entries)
    lfs = sum(e.size for e in entries if e.lfs)
    lines.append(f"{len(entries)} files, {total / 2**20:.1f} MB ({lfs / 2**20:.1f} MB through LFS/Xet)")
    return "\n".join(lines)


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    p.add_argument("--repo-id", help="the Space, USER/NAME (required unless --dry-run)")
    p.add_argument("--dry-run", action="store_true", help="list and check what would be uploaded; upload nothing")
    p.add_argument("--private", action="store_true", help="create the Space private")
    p.add_argument("--root", default=str(ROOT), help=argparse.SUPPRESS)  # the tests check made-up folders
    args = p.parse_args(argv)
    root = Path(args.root)
    if not args.dry_run and not args.repo_id:
        p.error("--repo-id USER/NAME is required (or --dry-run)")
    if args.repo_id and not re.fullmatch(r"[\w.-]+/[\w.-]+", args.repo_id):
        p.error(f"--repo-id must look like USER/NAME, not {args.repo_id!r}")
    entries = files(root)
    print(report(entries))
    problems = check(root, entries)
    for problem in problems:
        print(f"error: {problem}", file=sys.stderr)
    if problems:
        return 1
    print("checked: within the Hub's limits, large and binary files covered by .gitattributes, front matter matches")
    if args.dry_run:
        return 0

    from huggingface_hub import HfApi  # only for a real upload
    from huggingface_hub.errors import HfHubHTTPError

    api = HfApi()
    try:
        url = api.create_repo(args.repo_id, repo_type="space", space_sdk="gradio", private=args.private, exist_ok=True)
        api.upload_folder(
            repo_id=args.repo_id, repo_type="space", folder_path=root, allow_patterns=[e.path for e in entries],
            commit_message="Deploy the generative playground (scripts/deploy_space.py)",
        )  # fmt: skip
    except (HfHubHTTPError, OSError, ValueError) as exc:  # no token, no network, a name taken
        print(f"error: the upload failed: {exc}", file=sys.stderr)
        return 2
    print(f"uploaded {len(entries)} files to {url}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
