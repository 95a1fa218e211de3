"""Exercise 3's training machinery, which exercise3_train.py calls: one concept per module.

    recipe.py       the paper's recipe: Adam's constants, lambda = 100, how a step runs on this device
                    (StepSpeed), and train_step, the D step then the G step
    data.py         the preprocessed anime pairs -> (real_A, real_B) batches: the held-out split, the
                    official jitter (one crop and flip for both images of a pair), the seeded epoch order
    run.py          one run's bookkeeping: its folder, settings on --resume, validation, printed lines
    distributed.py  the same run on several GPUs under torchrun (DistributedDataParallel)
"""
