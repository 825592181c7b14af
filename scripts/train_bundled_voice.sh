#!/usr/bin/env bash
# Reproduce tacoglow's bundled voice from scratch: an espeak-ng corpus rendered from the LJ Speech
# training transcripts, a small Tacotron 2 (2.07 M parameters, 3 frames per decoder step, guided
# attention) and a small WaveGlow (bf16 autocast), then the package files.
#
#   bash scripts/train_bundled_voice.sh [WORK_DIR] [PHONE_STEPS]
#
# Needs espeak-ng (apt-get install espeak-ng) and NVIDIA's LJ Speech filelists (../shared/data/
# filelists in the development tree). Seeds are fixed (corpus selection 0, training 1234).
# The shipped Tacotron 2 was trained in stages, and this script repeats them:
#   1. letters (NVIDIA's text frontend) for 4,250 steps, beside the WaveGlow (90 minutes, one
#      thread each);
#   2. CMUdict phones (data.arpabet=true), warm-started from stage 1, for PHONE_STEPS steps
#      (default: the shipped voice's count), on two threads;
#   3. 1,700 more utterances (5,700 in all) and batches of 128: 1,200 steps at 4e-4 (x 0.3 at
#      epochs 15 and 30), then 500 at 1.2e-4. The shipped voice ran this stage on one H200 GPU
#      (11 minutes); STAGE3_DEVICE=cpu runs it on the CPU instead (about 2.5 hours on two threads);
#   4. scheduled sampling on the CPU (one thread, batches of 32 at 1e-4): 1,000 steps feeding
#      half of the decoder steps the model's own previous frames, then 1,000 feeding three
#      quarters (about 25 minutes each);
#   5. scheduled sampling in batches of 256: 350 steps at 2e-4 feeding half of the decoder steps the
#      model's own frames. The shipped voice ran this stage on one H200 GPU (about 2.7 minutes of a
#      run that shared the GPU with three others); STAGE5_DEVICE=cpu runs it on the CPU instead
#      (roughly 70 minutes on two threads).
#   6. every phone read twice (data.phone_repeats=2, so the attention moves within a phone),
#      scheduled sampling 0.5, batches of 32 at 2e-4, one CPU thread: STAGE6_STEPS steps
#      (default: the shipped voice's count; about 35 steps a minute).
#   7. every phone read three times (data.phone_repeats=3), from stage 6's last checkpoint, same
#      settings: STAGE7_STEPS steps (default 3,500; the stage-7 voice shipped before was step 3,000).
#   8. the same at half the learning rate (1e-4) from stage 7's last checkpoint: STAGE8_STEPS steps
#      (default: the shipped voice's count).
#   9. large batches (a GPU when there is one; STAGE9_DEVICE=cpu runs it on the CPU, many hours):
#      from stage 8's last checkpoint, batches of 256 at 2e-4 for 900 steps, then batches of 512
#      at 4e-4 for 320 steps, still three copies per phone and scheduled sampling 0.5. The shipped
#      voice ran these on one H200 GPU (about 6.7 and 3.4 minutes, each beside three other trials).
#      Packaged to read every phone four times (one more than trained: a slower pace, which
#      Whisper hears better).
# Every stage stops at a step count and resumes with --resume auto, so an interrupted run goes on
# where it stopped. The shipped voice's own numbers are in the README.
set -euo pipefail
here=$(cd "$(dirname "$0")/.." && pwd)
work=${1:-voice_work}
phone_steps=${2:-9880}
stage3_device=${STAGE3_DEVICE:-auto}
stage5_device=${STAGE5_DEVICE:-auto}
stage6_steps=${STAGE6_STEPS:-1750}
stage7_steps=${STAGE7_STEPS:-3500}
stage8_steps=${STAGE8_STEPS:-1500}
stage9_device=${STAGE9_DEVICE:-auto}
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
# 5. Stage 3: 1,700 more utterances (the same seeded selection, so a superset of the 4,000), listed
#    first so that the last 40 -- the validation set -- stay those of stages 1 and 2.
tacoglow corpus "$filelist" --output "$work/corpus5700" --max-sentences 5700 --max-chars 60 --min-chars 12 \
    --seed 0 --jobs 2
tacoglow preprocess "$work/corpus5700" --output "$work/mels5700" --jobs 2
awk -F'|' 'NR == FNR { old[$1] = 1; next } !($1 in old)' "$work/mels/mels.txt" "$work/mels5700/mels.txt" \
    > "$work/mels5700/stage3.txt"
cat "$work/mels/mels.txt" >> "$work/mels5700/stage3.txt"
on_5700() {  # output dir, warm-start file, then --set overrides
    local out=$1 from=$2; shift 2
    tacoglow train tacotron2 --config "$config" --data "$work/mels5700/stage3.txt" --output "$out" \
        --warm-start "$from" --set epochs=1000 --resume auto "$@"
}
big_batches=(--set device="$stage3_device" --set batch_size=128 --set data.num_workers=3 --set checkpoint.every_steps=100)
on_5700 "$work/t2_big_a" "$work/t2/checkpoint_tacotron2_last.pt" "${big_batches[@]}" --set max_steps=1200 \
    --set optim.learning_rate=4e-4 --set optim.anneal_steps=[15,30]
on_5700 "$work/t2_big_b" "$work/t2_big_a/checkpoint_tacotron2_last.pt" "${big_batches[@]}" --set max_steps=500 \
    --set optim.learning_rate=1.2e-4 --set optim.anneal_steps=[1000]
# 6. Stage 4: scheduled sampling, so that the decoder learns from its own free-running input.
small_batches=(--set device=cpu --set batch_size=32 --set checkpoint.every_steps=250 --set max_steps=1000
    --set optim.learning_rate=1e-4 --set optim.anneal_steps=[1000])
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 on_5700 "$work/t2_ss50" "$work/t2_big_b/checkpoint_tacotron2_last.pt" \
    "${small_batches[@]}" --set tacotron2.scheduled_sampling=0.5
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 on_5700 "$work/t2_ss75" "$work/t2_ss50/checkpoint_tacotron2_last.pt" \
    "${small_batches[@]}" --set tacotron2.scheduled_sampling=0.75
# 7. Stage 5: scheduled sampling again, in batches of 256 (a GPU when there is one).
on_5700 "$work/t2_ss_big" "$work/t2_ss75/checkpoint_tacotron2_last.pt" --set device="$stage5_device" \
    --set batch_size=256 --set data.num_workers=2 --set checkpoint.every_steps=50 --set max_steps=350 \
    --set optim.learning_rate=2e-4 --set optim.anneal_steps=[1000] --set tacotron2.scheduled_sampling=0.5
# 8. Stage 6: every phone twice; the attention re-learns its walk within a few hundred steps.
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 on_5700 "$work/t2_rep2" "$work/t2_ss_big/checkpoint_tacotron2_last.pt" \
    --set device=cpu --set batch_size=32 --set checkpoint.every_steps=250 --set max_steps="$stage6_steps" \
    --set optim.learning_rate=2e-4 --set optim.anneal_steps=[100000] --set tacotron2.scheduled_sampling=0.5 \
    --set data.phone_repeats=2
# 9. Stage 7: every phone three times, warm-started from stage 6 (re-learnt within the first epoch).
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 on_5700 "$work/t2_rep3" "$work/t2_rep2/checkpoint_tacotron2_last.pt" \
    --set device=cpu --set batch_size=32 --set checkpoint.every_steps=250 --set max_steps="$stage7_steps" \
    --set optim.learning_rate=2e-4 --set optim.anneal_steps=[100000] --set tacotron2.scheduled_sampling=0.5 \
    --set data.phone_repeats=3
# 10. Stage 8: half the learning rate.
OMP_NUM_THREADS=1 MKL_NUM_THREADS=1 on_5700 "$work/t2_rep3_lr1" "$work/t2_rep3/checkpoint_tacotron2_last.pt" \
    --set device=cpu --set batch_size=32 --set checkpoint.every_steps=250 --set max_steps="$stage8_steps" \
    --set optim.learning_rate=1e-4 --set optim.anneal_steps=[100000] --set tacotron2.scheduled_sampling=0.5 \
    --set data.phone_repeats=3
# 11. Stage 9: large batches (on a GPU a step of 256 utterances takes about as long as one of 128 and
#     one of 512 about 1.5 times as long, and they average away more of the gradient's noise).
large_batches=(--set device="$stage9_device" --set data.num_workers=2 --set optim.anneal_steps=[100000]
    --set tacotron2.scheduled_sampling=0.5 --set data.phone_repeats=3)
on_5700 "$work/t2_b256" "$work/t2_rep3_lr1/checkpoint_tacotron2_last.pt" "${large_batches[@]}" \
    --set batch_size=256 --set optim.learning_rate=2e-4 --set checkpoint.every_steps=75 --set max_steps=900
on_5700 "$work/t2_b512" "$work/t2_b256/checkpoint_tacotron2_last.pt" "${large_batches[@]}" \
    --set batch_size=512 --set optim.learning_rate=4e-4 --set checkpoint.every_steps=40 --set max_steps=320
final=$work/t2_b512
# 12. Package: weights only, float16 on disk (loaded as float32); the text frontend travels with them,
# set to read every phone four times.
mkdir -p "$here/src/tacoglow/voices"
tacoglow convert "$final/checkpoint_tacotron2_last.pt" -o "$here/src/tacoglow/voices/tacotron2.pt" --half \
    --phone-repeats 4
if [ "${SHIP_WAVEGLOW:-0}" = 1 ]; then
  tacoglow convert "$work/wg/checkpoint_waveglow_last.pt" -o "$here/src/tacoglow/voices/waveglow.pt" --half \
      --remove-weight-norm
fi
# 13. Evaluate on 100 LJ Speech validation sentences the voice never trained on.
tacoglow evaluate --sentences "${filelist%train_filelist.txt}val_filelist.txt" --asr whisper \
    --teacher espeak-ng --vocoder griffin-lim --json "$work/eval_griffin_lim.json"
