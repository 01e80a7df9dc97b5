"""Re-vendor the playground's scripts from npm: `python scripts/vendor_playground.py`.

`npm ci` installs exactly what core/stratus/api/playground/package-lock.json pins (npm checks each tarball
against the lock's integrity), then each file the page loads is copied byte for byte into `vendor/` with its
licence, and `vendor/MANIFEST.json` records, per file, the package, version and lock integrity it came from
and its sha256. tests/unit/test_playground.py checks the manifest against the lock and the files against the
manifest, so the vendored files cannot drift from the pins. To upgrade: edit package.json, run
`npm install --package-lock-only` in that folder, then this script.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

PLAYGROUND = Path(__file__).resolve().parent.parent / "core" / "stratus" / "api" / "playground"
VENDOR = PLAYGROUND / "vendor"

FILES = {  # vendored name -> (npm package, path inside it)
    "marked.umd.js": ("marked", "lib/marked.umd.js"),
    "marked.LICENSE": ("marked", "LICENSE"),
    "purify.min.js": ("dompurify", "dist/purify.min.js"),
    "purify.LICENSE": ("dompurify", "LICENSE"),
    "highlight.min.js": ("@highlightjs/cdn-assets", "highlight.min.js"),  # its common languages, prebuilt
    "highlight.LICENSE": ("@highlightjs/cdn-assets", "LICENSE"),
}


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def main() -> int:
    lock = json.loads((PLAYGROUND / "package-lock.json").read_text(encoding="utf-8"))
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        for name in ("package.json", "package-lock.json"):
            shutil.copy(PLAYGROUND / name, work / name)
        subprocess.run(["npm", "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=work, check=True)
        VENDOR.mkdir(exist_ok=True)
        manifest: dict[str, dict[str, str]] = {}
        for vendored, (package, inner) in FILES.items():
            locked = lock["packages"][f"node_modules/{package}"]
            installed = json.loads((work / "node_modules" / package / "package.json").read_text(encoding="utf-8"))
            if installed["version"] != locked["version"]:
                raise SystemExit(f"{package}: npm installed {installed['version']}, the lock pins {locked['version']}")
            shutil.copyfile(work / "node_modules" / package / inner, VENDOR / vendored)
            manifest[vendored] = {
                "package": package,
                "version": locked["version"],
                "integrity": locked["integrity"],
                "path": inner,
                "sha256": sha256(VENDOR / vendored),
            }
    (VENDOR / "MANIFEST.json").write_text(json.dumps(manifest, indent=2) + "\n", encoding="utf-8")
    for vendored, entry in manifest.items():
        print(f"{vendored}: {entry['package']} {entry['version']} sha256 {entry['sha256'][:16]}...")
    return 0


if __name__ == "__main__":
    sys.exit(main())
