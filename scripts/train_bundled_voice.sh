#!/usr/bin/env bash
# Reproduce tacoglow's bundled voice from scratch on a CPU: an espeak-ng corpus rendered from the
# LJ Speech training transcripts, a small Tacotron 2 (2.07 M parameters, 3 frames per decoder
# step, guided attention) and a small WaveGlow (bf16 autocast), then the package files.
#
#   bash scripts/train_bundled_voice.sh [WORK_DIR] [MINUTES]
#
# Needs espeak-ng (apt-get install espeak-ng) and NVIDIA's LJ Speech filelists (../shared/data/
# filelists in the development tree). Seeds are fixed (corpus selection 0, training 1234). Both
# models train at once, one thread each, for MINUTES minutes (default 90), then the newest
# checkpoints are packaged. The shipped voice's own numbers are in the README.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-voice_work}
minutes=${2:-90}
filelist=${FILELIST:-$here/../shared/data/filelists/ljs_audio_text_train_filelist.txt}
mkdir -p "$work"
export OMP_NUM_THREADS=1 MKL_NUM_THREADS=1   # one thread per process: faster on a shared 2-core CPU

# 1. 4,000 utterances of 12-60 characters (long sentences cut at punctuation), 22,050 Hz.
tacoglow corpus "$filelist" --output "$work/corpus" --max-sentences 4000 --max-chars 60 --min-chars 12 \
    --seed 0 --jobs 2
# 2. Mels to disk for Tacotron 2 (WaveGlow reads the wavs).
tacoglow preprocess "$work/corpus" --output "$work/mels" --jobs 2
# 3. Both trainings side by side, stopped after the time budget (resumable with --resume auto).
timeout "${minutes}m" tacoglow train tacotron2 --config "$here/configs/voice_tacotron2.json" \
    --data "$work/mels/mels.txt" --output "$work/t2" --set checkpoint.every_steps=100 --resume auto &
timeout "${minutes}m" tacoglow train waveglow --config "$here/configs/voice_waveglow.json" \
    --data "$work/corpus" --output "$work/wg" --set checkpoint.every_steps=100 --resume auto &
wait || true
# 4. Package: weights only, float16 on disk (loaded as float32).
mkdir -p "$here/src/tacoglow/voices"
tacoglow export "$work/t2/checkpoint_tacotron2_last.pt" -o "$here/src/tacoglow/voices/tacotron2.pt" --half
if [ "${SHIP_WAVEGLOW:-0}" = 1 ]; then
  tacoglow export "$work/wg/checkpoint_waveglow_last.pt" -o "$here/src/tacoglow/voices/waveglow.pt" --half \
      --remove-weight-norm
fi
# 5. Evaluate on 100 LJ Speech validation sentences the voice never trained on.
tacoglow evaluate --sentences "${FILELIST%train_filelist.txt}val_filelist.txt" --asr whisper \
    --teacher espeak-ng --vocoder griffin-lim --json "$work/eval_griffin_lim.json"
