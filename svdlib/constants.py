"""The few numbers and names every layer shares, defined once."""

#: The corpus splits, in the Jamendo layout's filelist names.
SPLITS = ("train", "valid", "test")

#: The attack domains: the waveform and the linear-magnitude spectrogram.
DOMAINS = ("wave", "spec")

#: The target classes of the paper's settings: sing → no sing is target 0, no sing → sing is 1.
TARGETS = (1, 0)

#: Frames the detector sees per prediction (its receptive field, about 1.64 s at 70 fps).
EXCERPT_FRAMES = 115

#: Mel bands of the paper's front end.
MEL_BANDS = 80

#: The explainers of the benchmark, in the order its tables list them.
EXPLAINERS = ("lime", "lime_forest", "lime_zero", "lime_noise", "kernelshap", "occlusion",
              "integrated_gradients", "saliency", "gradient_x_input", "random")

#: The seven explainers of the paper's method and its benchmark, without LIME's variants.
CORE_EXPLAINERS = ("lime", "kernelshap", "occlusion", "integrated_gradients", "saliency",
                   "gradient_x_input", "random")
