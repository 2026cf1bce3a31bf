// Reading a model and its class names from a weights file or training checkpoint, for the CLI.

import { readSafetensors } from '../tensor/safetensors';
import { Kernels } from '../kernels/kernels';
import { SSD300 } from '../ssd/ssd300';
import { VOC_CLASSES } from '../data/voc';
import { parseClassNames } from '../train/checkpoint';

/**
 * A model shaped to fit a weights file (SSD300.fromWeights reads the number of classes, the
 * width and batch norm off the tensors), in evaluation mode. Class names come from the
 * metadata, else VOC's for 21 classes, else 'class 1', 'class 2', ...
 */
export function loadModel(file: string, kernels: Kernels): { model: SSD300; classes: string[] } {
  const { tensors, metadata } = readSafetensors(file);
  const model = SSD300.fromWeights(tensors, file, { kernels });
  model.eval();
  const nClasses = model.nClasses;
  let classes: string[];
  if (metadata.classes !== undefined) {
    classes = parseClassNames(metadata.classes, file);
  } else if (nClasses === VOC_CLASSES.length) {
    classes = [...VOC_CLASSES];
  } else {
    classes = ['background', ...Array.from({ length: nClasses - 1 }, (_, i) => `class ${i + 1}`)];
  }
  if (classes.length !== nClasses) throw new Error(`${file}: metadata names ${classes.length} classes but the weights have ${nClasses}`);
  return { model, classes };
}
