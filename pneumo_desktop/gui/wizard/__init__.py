"""The training wizard (Model → Train on clinic images…): `wizard.TrainingWizard` and its five
pages, one module each (data, model, training, evaluation, save), the widgets and wording they
share, the protocol through which pages see the wizard (`owner`), the workers that check the
folder, measure speed, train and save (`training_worker`: the work itself runs in the compute
process) and the live matplotlib plots (`plots`). Qt only; never TensorFlow or Keras."""
