"""DeepSEA multi-task non-coding classification (919 chromatin targets).

data:    the training bundle (train.mat HDF5 / valid.mat, test.mat MATLAB 5) streamed into
         memory-mappable arrays: base codes (uint8) and bit-packed labels
models:  the capstone's ResNet-1D + Transformer (or BiLSTM) and the ULMFiT AWD-LSTM encoder
         with a multi-label head
train:   BCE with logits, prior-initialised output bias, LR warmup, gradient accumulation,
         mixed precision on CUDA (fastai Learner and callbacks); prediction and evaluation
"""
