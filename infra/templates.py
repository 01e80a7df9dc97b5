"""Synthesize the templates the IaC checks read (`make check-iac`): one per variant of the stack that changes
what is deployed (API-key auth, Cognito auth, an OpenAI model), each into `<outdir>/<variant>/`, with cdk-nag
at synthesis as always.

    python -m infra.templates [outdir]    # default build/iac; prints each template's path

A template does not depend on what the layer holds, only on its asset hash, so without a built layer
(`make layer`) a stand-in directory is packaged instead and the check needs no download.
"""

from __future__ import annotations

import argparse
import shutil
from collections.abc import Mapping, Sequence
from pathlib import Path

from infra.app import build, create_app
from infra.config import DEFAULT_LAYER_PATH, REPO_ROOT

__all__ = ["VARIANTS", "main", "synthesize_variants"]

VARIANTS: Mapping[str, Mapping[str, str]] = {
    "api_key": {},
    "cognito": {"auth": "cognito"},
    "openai": {"model": "openai:gpt-4o-mini"},
    "cors": {"cors_origins": "https://ui.example.com,https://os.agno.com"},
    "no_snap_start": {"snap_start": "false"},
}
"""Variant name -> the context it is synthesized with (over the defaults)."""


def synthesize_variants(outdir: Path) -> list[Path]:
    """Synthesize every variant into `outdir/<variant>/` (emptied first); their template paths."""
    if outdir.exists():
        shutil.rmtree(outdir)
    outdir.mkdir(parents=True)
    layer = REPO_ROOT / DEFAULT_LAYER_PATH
    if not layer.is_dir() or not any(layer.iterdir()):
        layer = outdir / "stand-in-layer"
        (layer / "python").mkdir(parents=True)
        (layer / "python" / "README.txt").write_text("a stand-in: the real layer is built by `make layer`\n")
    templates: list[Path] = []
    for name, context in VARIANTS.items():
        app = create_app({"layer_path": str(layer), **context}, outdir=str(outdir / name))
        stack = build(app)
        app.synth()  # fails on any cdk-nag finding not acknowledged
        templates.append(outdir / name / stack.template_file)
    return templates


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0] if __doc__ else None)
    parser.add_argument("outdir", nargs="?", default="build/iac", type=Path)
    arguments = parser.parse_args(argv)
    for template in synthesize_variants(arguments.outdir.resolve()):
        print(template)


if __name__ == "__main__":
    main()
