"""Tiny random-weight pipelines of the real diffusers classes, and the `tiny` engine that runs one.

The `tiny` engine is diffusers' real `LTX2Pipeline` with small random weights built in code: no download,
float32 on a CPU, about a second per clip. The output is noise; it exists so that the whole server path
(planning, frame rules, joint audio, progress, cancel, encoding) runs for real in tests and on a first
install. Every result it makes says so (task `extra.notice`, mp4 `comment`).

The same builders exist for Wan and StableAudio, and `save_tiny` writes any of them in the real on-disk
format (`shotline models tiny`), so the ltx2 and wan engines' real loading code can be smoke-tested
without downloading weights. The component sizes keep each model's own rules (LTX-2: VAE spatial ratio 32,
temporal ratio 8; Wan: 8 and 4, patch 2) at the smallest shapes that build and decode.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from shotline.engines.ltx2 import LTX2Engine

WEIGHTS_SEED = 0  # the same random weights in every process, so a seed repeats a video everywhere


def tiny_tokenizer() -> Any:
    from transformers import GemmaTokenizer

    # Character-level vocabulary (BPE with no merges); no hub download. Gemma's special tokens first,
    # the image tokens Gemma 3 expects at the end.
    specials = ["<pad>", "<eos>", "<bos>", "<unk>", "<mask>", "▁"]
    chars = [chr(c) for c in range(33, 127)]
    image = ["<start_of_image>", "<end_of_image>", "<image_soft_token>"]
    vocab = {tok: i for i, tok in enumerate(specials + chars + image)}
    return GemmaTokenizer(vocab=vocab, merges=[])


def build_tiny_ltx2_pipeline() -> Any:
    from diffusers import (
        AutoencoderKLLTX2Audio,
        AutoencoderKLLTX2Video,
        FlowMatchEulerDiscreteScheduler,
        LTX2Pipeline,
        LTX2VideoTransformer3DModel,
    )
    from diffusers.pipelines.ltx2.connectors import LTX2TextConnectors
    from diffusers.pipelines.ltx2.vocoder import LTX2Vocoder
    from transformers import Gemma3Config, Gemma3ForConditionalGeneration

    tokenizer = tiny_tokenizer()
    vocab_size = len(tokenizer.get_vocab())
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED)
        text_encoder = Gemma3ForConditionalGeneration(
            Gemma3Config(
                text_config=dict(
                    vocab_size=vocab_size, hidden_size=32, intermediate_size=64, num_hidden_layers=2,
                    num_attention_heads=2, num_key_value_heads=1, head_dim=16, sliding_window=64,
                    max_position_embeddings=512,
                ),
                vision_config=dict(
                    hidden_size=16, intermediate_size=32, num_hidden_layers=1, num_attention_heads=2,
                    image_size=28, patch_size=14,
                ),
                mm_tokens_per_image=4,
                boi_token_index=vocab_size - 3,
                eoi_token_index=vocab_size - 2,
                image_token_index=vocab_size - 1,
            )
        )
        connectors = LTX2TextConnectors(
            caption_channels=32, text_proj_in_factor=3,  # text layers + 1
            video_connector_num_attention_heads=4, video_connector_attention_head_dim=8,
            video_connector_num_layers=1, video_connector_num_learnable_registers=None,
            audio_connector_num_attention_heads=4, audio_connector_attention_head_dim=8,
            audio_connector_num_layers=1, audio_connector_num_learnable_registers=None,
            connector_rope_base_seq_len=32, rope_double_precision=False, rope_type="split",
        )
        transformer = LTX2VideoTransformer3DModel(
            in_channels=8, out_channels=8, patch_size=1, num_attention_heads=2, attention_head_dim=8,
            cross_attention_dim=16, audio_in_channels=4, audio_out_channels=4, audio_num_attention_heads=2,
            audio_attention_head_dim=4, audio_cross_attention_dim=8, num_layers=2, caption_channels=32,
            rope_double_precision=False, rope_type="split",
        )
        # Decoder width 16, not 8: PyTorch's CPU conv3d takes its slow non-oneDNN path when batch × channels ×
        # frames × height stays under 20480, which at 8 channels made short clips decode slower than long ones.
        vae = AutoencoderKLLTX2Video(
            latent_channels=8, block_out_channels=(8, 8, 8), decoder_block_out_channels=(16, 16, 16),
            layers_per_block=(1, 1, 1, 1), decoder_layers_per_block=(1, 1, 1, 1),
            spatio_temporal_scaling=(True, True, True), decoder_spatio_temporal_scaling=(True, True, True),
            decoder_inject_noise=(False, False, False, False), downsample_type=("spatiotemporal",) * 3,
            upsample_type=("spatiotemporal",) * 3, upsample_residual=(False, False, False),
            upsample_factor=(1, 1, 1), timestep_conditioning=False, patch_size=4, patch_size_t=1,
            decoder_causal=False,
        )
        audio_vae = AutoencoderKLLTX2Audio(
            base_channels=4, output_channels=2, ch_mult=(1,), num_res_blocks=1, resolution=32,
            latent_channels=2, mel_bins=8, sample_rate=16000, mel_hop_length=160,
        )
        vocoder = LTX2Vocoder(
            in_channels=16, hidden_channels=32, out_channels=2, upsample_kernel_sizes=[15, 8, 8, 4],
            upsample_factors=[5, 4, 4, 2], resnet_kernel_sizes=[3], resnet_dilations=[[1, 3, 5]],
            output_sampling_rate=16000,
        )
    scheduler = FlowMatchEulerDiscreteScheduler(
        use_dynamic_shifting=True, base_shift=0.95, max_shift=2.05, base_image_seq_len=1024,
        max_image_seq_len=4096, shift_terminal=0.1,
    )
    pipe = LTX2Pipeline(
        scheduler=scheduler, vae=vae, audio_vae=audio_vae, text_encoder=text_encoder, tokenizer=tokenizer,
        connectors=connectors, transformer=transformer, vocoder=vocoder,
    )
    for module in (text_encoder, connectors, transformer, vae, audio_vae, vocoder):
        module.eval()
    pipe.set_progress_bar_config(disable=True)
    return pipe


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


TINY_BUILDERS = {
    "ltx2": build_tiny_ltx2_pipeline,
    "wan": build_tiny_wan_pipeline,
    "stable-audio": build_tiny_stable_audio_pipeline,
}


def save_tiny(kind: str, directory: Path) -> Path:
    """Write a tiny random-weight pipeline of `kind` (ltx2, wan, stable-audio) as `save_pretrained` does."""
    if kind not in TINY_BUILDERS:
        raise ValueError(f"no tiny pipeline {kind!r}; choose one of: {', '.join(TINY_BUILDERS)}")
    TINY_BUILDERS[kind]().save_pretrained(directory)
    return directory


class TinyEngine(LTX2Engine):
    # Spatio-temporal guidance perturbs block 28 of the real model; the tiny one has 2 blocks, so it is off.
    call_options = {
        "stg_scale": 0.0,
        "audio_stg_scale": 0.0,
        "spatio_temporal_guidance_blocks": None,
        "modality_scale": 1.0,
        "audio_modality_scale": 1.0,
        "guidance_rescale": 0.0,
        "audio_guidance_rescale": 0.0,
    }
    max_sequence_length = 64
    engine_name = "tiny"

    def load(self) -> None:
        self.adopt(build_tiny_ltx2_pipeline())  # always on the CPU, where it is repeatable

    def describe(self) -> dict[str, str]:
        return {"engine": "tiny", "notice": self.spec.notice}
