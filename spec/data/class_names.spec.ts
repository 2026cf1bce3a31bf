// The class names of a weights file, as the CLI and the page both read them (data/class_names.ts).

import { expect } from 'chai';
import { VOC_CLASSES, classNamesOfWeights } from '../../data/class_names';

describe('data/class_names: naming the classes of a weights file', () => {
  it("the file's own list first, else VOC's for 21 classes, else 'class k'", () => {
    expect(classNamesOfWeights({ classes: '["background","cat","dog"]' }, 3, 'w.safetensors')).to.deep.equal(['background', 'cat', 'dog']);
    expect(classNamesOfWeights({}, 21, 'w.safetensors')).to.deep.equal([...VOC_CLASSES]);
    expect(classNamesOfWeights({}, 3, 'w.safetensors')).to.deep.equal(['background', 'class 1', 'class 2']);
  });

  it('a list that is not JSON, not strings or of another length than the weights is an error naming the file', () => {
    expect(() => classNamesOfWeights({ classes: '[background' }, 3, 'w.safetensors')).to.throw("w.safetensors: metadata 'classes' is not valid JSON");
    expect(() => classNamesOfWeights({ classes: '["background", 1]' }, 2, 'w.safetensors')).to.throw("w.safetensors: metadata 'classes' must be a JSON list of strings");
    expect(() => classNamesOfWeights({ classes: '["background","cat"]' }, 3, 'w.safetensors')).to.throw('w.safetensors: metadata names 2 classes but the weights have 3');
  });
});
