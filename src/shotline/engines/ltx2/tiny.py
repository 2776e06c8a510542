"""Tiny random-weight LTX-2 components of the real diffusers classes: the pipeline, the x2 latent upsampler
and a distilled LoRA, at the smallest shapes that keep LTX-2's rules (VAE spatial ratio 32, temporal ratio 8)
and decode. `save_tiny_ltx2` writes them in the real on-disk layout (`shotline models tiny ltx2`), so the
ltx2 engine's loading code and every recipe run on a CPU without downloading weights. Their output is noise.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

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


def build_tiny_upsampler() -> Any:
    """The x2 latent spatial upsampler at the tiny VAE's 8 latent channels (GroupNorm needs 32 mid channels)."""
    from diffusers.pipelines.ltx2.latent_upsampler import LTX2LatentUpsamplerModel

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(WEIGHTS_SEED + 1)
        upsampler = LTX2LatentUpsamplerModel(in_channels=8, mid_channels=32, num_blocks_per_stage=1, dims=3,
                                             spatial_upsample=True, use_rational_resampler=False)
    return upsampler.eval()


LORA_FILE = "ltx2-tiny-distilled-lora.safetensors"  # matches versions.LORA_PATTERN, as Lightricks' names do
LORA_RANK = 4


def tiny_lora_layers(transformer: Any, rank: int = LORA_RANK, seed: int = WEIGHTS_SEED + 2) -> dict[str, Any]:
    """A random LoRA on the attention projections of `transformer` (peft's own layers, then its state dict),
    non-zero on both sides so that turning it on changes the output. The transformer is left without it."""
    from peft import LoraConfig
    from peft.utils import get_peft_model_state_dict

    config = LoraConfig(r=rank, lora_alpha=rank, init_lora_weights=False,
                        target_modules=["to_q", "to_k", "to_v", "to_out.0"])
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        transformer.add_adapter(config, adapter_name="tiny")
    layers = {k: v.detach().clone() for k, v in get_peft_model_state_dict(transformer, adapter_name="tiny").items()}
    transformer.delete_adapters("tiny")
    return layers


def save_tiny_ltx2(directory: Path) -> Path:
    """An LTX-2 folder as Lightricks ship it for two stages: the pipeline, `latent_upsampler/`, and the
    distilled LoRA at the root."""
    from diffusers import LTX2Pipeline

    pipe = build_tiny_ltx2_pipeline()
    pipe.save_pretrained(directory)
    build_tiny_upsampler().save_pretrained(directory / "latent_upsampler")
    LTX2Pipeline.save_lora_weights(directory, transformer_lora_layers=tiny_lora_layers(pipe.transformer),
                                   weight_name=LORA_FILE)
    return directory
