#!/usr/bin/env bash
# Reproduce tacoglow's bundled voice from scratch on a CPU: an espeak-ng corpus rendered from the
# LJ Speech training transcripts, a small Tacotron 2 (2.07 M parameters, 3 frames per decoder
# step, guided attention) and a small WaveGlow (bf16 autocast), then the package files.
#
#   bash scripts/train_bundled_voice.sh [WORK_DIR] [PHONE_STEPS]
#
# Needs espeak-ng (apt-get install espeak-ng) and NVIDIA's LJ Speech filelists (../shared/data/
# filelists in the development tree). Seeds are fixed (corpus selection 0, training 1234).
# The shipped Tacotron 2 was trained in two stages, and this script repeats them:
#   1. letters (NVIDIA's text frontend) for 4,250 steps, beside the WaveGlow (90 minutes, one
#      thread each);
#   2. CMUdict phones (data.arpabet=true), warm-started from stage 1, for PHONE_STEPS steps
#      (default: the shipped voice's count), on two threads.
# Every stage stops at a step count and resumes with --resume auto, so an interrupted run goes on
# where it stopped. The shipped voice's own numbers are in the README.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-voice_work}
phone_steps=${2:-9880}
filelist=${FILELIST:-$here/../shared/data/filelists/ljs_audio_text_train_filelist.txt}
config=$here/configs/voice_tacotron2.json
mkdir -p "$work"

# 1. 4,000 utterances of 12-60 characters (long sentences cut at punctuation), 22,050 Hz.
tacoglow corpus "$filelist" --output "$work/corpus" --max-sentences 4000 --max-chars 60 --min-chars 12 \
    --seed 0 --jobs 2
# 2. Mels to disk for Tacotron 2 (WaveGlow reads the wavs).
tacoglow preprocess "$work/corpus" --output "$work/mels" --jobs 2
# 3. Stage 1: Tacotron 2 on letters and the WaveGlow side by side, one thread each.
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 tacoglow train tacotron2 --config "$config" --data "$work/mels/mels.txt" \
    --output "$work/t2_letters" --set max_steps=4250 --set data.arpabet=false --resume auto &
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 timeout 90m tacoglow train waveglow --config "$here/configs/voice_waveglow.json" \
    --data "$work/corpus" --output "$work/wg" --set checkpoint.every_steps=100 --resume auto &
wait
# 4. Stage 2: Tacotron 2 on CMUdict phones, warm-started from stage 1, two threads.
OMP_NUM_THREADS=2 MKL_NUM_THREADS=2 tacoglow train tacotron2 --config "$config" --data "$work/mels/mels.txt" \
    --output "$work/t2" --warm-start "$work/t2_letters/checkpoint_tacotron2_last.pt" --set max_steps="$phone_steps" \
    --resume auto
# 5. Package: weights only, float16 on disk (loaded as float32); the text frontend travels with them.
mkdir -p "$here/src/tacoglow/voices"
tacoglow export "$work/t2/checkpoint_tacotron2_last.pt" -o "$here/src/tacoglow/voices/tacotron2.pt" --half
if [ "${SHIP_WAVEGLOW:-0}" = 1 ]; then
  tacoglow export "$work/wg/checkpoint_waveglow_last.pt" -o "$here/src/tacoglow/voices/waveglow.pt" --half \
      --remove-weight-norm
fi
# 6. Evaluate on 100 LJ Speech validation sentences the voice never trained on.
tacoglow evaluate --sentences "${filelist%train_filelist.txt}val_filelist.txt" --asr whisper \
    --teacher espeak-ng --vocoder griffin-lim --json "$work/eval_griffin_lim.json"
