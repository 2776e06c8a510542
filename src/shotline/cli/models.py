"""`shotline models`: weights for the real engines (ltx2, wan)."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console

models_app = typer.Typer(help="Model weights for the ltx2 and wan engines (docs/engines/).", no_args_is_help=True,
                        rich_markup_mode=None)

ModelPath = Annotated[str | None, typer.Option(
    "--model", envvar="SHOTLINE_MODEL", show_envvar=True, metavar="PATH",
    help="Weights for ltx2/wan: a diffusers directory, or a Hugging Face repo id already in the local cache.")]

err = Console(stderr=True)

NEXT_STEP = {
    "ltx2": "SHOTLINE_ENGINE=ltx2 SHOTLINE_MODEL={dir}  (latent upsampler and distilled LoRA inside: every recipe runs)",
    "wan": "SHOTLINE_ENGINE=wan SHOTLINE_MODEL={dir}  (add SHOTLINE_DISTILL_LORA={dir}/wan-tiny-step-distill-lora"
           ".safetensors for the fast recipe)",
    "stable-audio": "SHOTLINE_AUDIO_MODEL={dir}  (wan's sound)",
}


@models_app.command("tiny")
def tiny(
    engine: Annotated[str, typer.Argument(
        metavar="ENGINE", help="ltx2, wan, or stable-audio (the text-to-audio model wan uses).")],
    directory: Annotated[Path, typer.Argument(
        metavar="DIRECTORY", help="Where to write it (created; must be empty).")],
) -> None:
    """Write a tiny random-weight pipeline of ENGINE into DIRECTORY in the real on-disk format, to smoke-test a
    deployment's loading path without downloading weights: ltx2 with its latent upsampler and a distilled LoRA,
    wan with a step-distill LoRA. Its output is noise; on a CPU add SHOTLINE_PRESET=test for small frames."""
    if engine not in NEXT_STEP:
        err.print(f"[red]error:[/red] no tiny pipeline {engine!r}; choose one of: {', '.join(NEXT_STEP)}")
        raise typer.Exit(2)
    if directory.exists() and (not directory.is_dir() or any(directory.iterdir())):
        err.print(f"[red]error:[/red] {directory} exists and is not an empty directory")
        raise typer.Exit(2)
    try:
        import torch  # noqa: F401 - the weights are written with it

        from shotline.engines.registry import save_tiny
    except ImportError as e:
        err.print(f"[red]error:[/red] this needs the generation extras: pip install 'shotline[engines]' ({e})")
        raise typer.Exit(2) from e
    save_tiny(engine, directory)
    err.print(f"wrote a tiny random-weight {engine} pipeline to {directory}; use it with:")
    print(NEXT_STEP[engine].format(dir=directory.resolve()))
