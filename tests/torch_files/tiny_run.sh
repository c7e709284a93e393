# The tiny training run of the cross-version files (make.sh writes it, resume.sh continues it): sourced.
tiny_run=(image train --objective eps --from-scratch --tasks all --batch 4 --channels 8 --multipliers 1,2
          --train-subset 64 --val-images 8 --threads 1 --no-plots --seed 3)
