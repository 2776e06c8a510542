"""Tiny random-weight Wan components (and the StableAudio pipeline that makes wan's sound) of the real
diffusers classes, at the smallest shapes that keep Wan's rules (VAE 8x spatial, 4x temporal, patch 2) and
decode. `shotline models tiny wan DIR` writes the pipeline and a tiny step-distill LoRA (what
SHOTLINE_DISTILL_LORA points at for `fast`); `shotline models tiny stable-audio DIR` the sound model.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from shotline.engines.ltx2.tiny import WEIGHTS_SEED, tiny_lora_layers


def tiny_t5_tokenizer(max_length: int) -> Any:
    from transformers import T5Tokenizer

    # Unigram vocabulary of single characters; T5's three specials first, no sentinel ids.
    pieces = [("<pad>", 0.0), ("</s>", 0.0), ("<unk>", 0.0), ("▁", -1.0)] + [(chr(c), -2.0) for c in range(33, 127)]
    return T5Tokenizer(vocab=pieces, extra_ids=0, model_max_length=max_length)


def build_tiny_wan_pipeline() -> Any:
    from diffusers import AutoencoderKLWan, UniPCMultistepScheduler, WanPipeline, WanTransformer3DModel
    from transformers import UMT5Config, UMT5EncoderModel

    tokenizer = tiny_t5_tokenizer(512)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        text_encoder = UMT5EncoderModel(UMT5Config(
            vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8,
        ))
        vae = AutoencoderKLWan(base_dim=3, z_dim=16, dim_mult=[1, 1, 1, 1], num_res_blocks=1,
                               temperal_downsample=[False, True, True])
        transformer = WanTransformer3DModel(
            patch_size=(1, 2, 2), num_attention_heads=2, attention_head_dim=12, in_channels=16, out_channels=16,
            text_dim=32, freq_dim=256, ffn_dim=32, num_layers=2, cross_attn_norm=True,
            qk_norm="rms_norm_across_heads",
        )
    # The scheduler Wan 2.1's diffusers weights ship (flow shift 3 for 480p).
    scheduler = UniPCMultistepScheduler(prediction_type="flow_prediction", use_flow_sigmas=True, flow_shift=3.0)
    pipe = WanPipeline(tokenizer=tokenizer, text_encoder=text_encoder, vae=vae, transformer=transformer,
                       scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_stable_audio_pipeline() -> Any:
    from diffusers import (
        AutoencoderOobleck,
        CosineDPMSolverMultistepScheduler,
        StableAudioDiTModel,
        StableAudioPipeline,
        StableAudioProjectionModel,
    )
    from transformers import T5Config, T5EncoderModel

    tokenizer = tiny_t5_tokenizer(16)  # StableAudio needs a finite tokenizer length
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        text_encoder = T5EncoderModel(T5Config(
            vocab_size=len(tokenizer), d_model=32, d_kv=8, d_ff=64, num_layers=2, num_heads=4,
            relative_attention_num_buckets=8,
        ))
        # 512 latents × hop 512 at 16 kHz: up to 16.4 s, more than the longest shot.
        transformer = StableAudioDiTModel(
            sample_size=512, in_channels=4, num_layers=2, attention_head_dim=4, num_attention_heads=2,
            num_key_value_attention_heads=1, out_channels=4, cross_attention_dim=8, time_proj_dim=8,
            global_states_input_dim=16, cross_attention_input_dim=8,
        )
        vae = AutoencoderOobleck(encoder_hidden_size=4, downsampling_ratios=[2, 4, 8, 8], decoder_channels=4,
                                 decoder_input_channels=4, audio_channels=2, channel_multiples=[1, 1, 1, 1],
                                 sampling_rate=16000)
        projection_model = StableAudioProjectionModel(text_encoder_dim=32, conditioning_dim=8, min_value=0,
                                                      max_value=64)
    # The scheduler stable-audio-open ships (it needs torchsde).
    scheduler = CosineDPMSolverMultistepScheduler(solver_order=2, prediction_type="v_prediction", sigma_data=1.0,
                                                  sigma_schedule="exponential")
    pipe = StableAudioPipeline(vae=vae, text_encoder=text_encoder, projection_model=projection_model,
                               tokenizer=tokenizer, transformer=transformer, scheduler=scheduler)
    pipe.set_progress_bar_config(disable=True)
    return pipe


LORA_FILE = "wan-tiny-step-distill-lora.safetensors"


def save_tiny_wan(directory: Path) -> Path:
    """A Wan 2.1-style folder, with a random step-distill LoRA (LightX2V-style) beside it."""
    from diffusers import WanPipeline

    pipe = build_tiny_wan_pipeline()
    pipe.save_pretrained(directory)
    WanPipeline.save_lora_weights(directory, transformer_lora_layers=tiny_lora_layers(pipe.transformer),
                                  weight_name=LORA_FILE)
    return directory


def save_tiny_stable_audio(directory: Path) -> Path:
    build_tiny_stable_audio_pipeline().save_pretrained(directory)
    return directory
