import { expect } from 'chai';
import { uniqueOutputNames } from '../../cli/output_names';

describe('cli/output_names: one output file per input', () => {
  it('the name without extension, the full name when two share it, a number when they still collide', () => {
    expect(uniqueOutputNames(['a/photo.jpg', 'b/cat.png'])).to.deep.equal(['photo', 'cat']);
    expect(uniqueOutputNames(['one.png', 'one.jpg', 'two.png'])).to.deep.equal(['one.png', 'one.jpg', 'two']);
    expect(uniqueOutputNames(['a/one.png', 'b/one.png', 'c/one.png'])).to.deep.equal(['one.png', 'one.png-2', 'one.png-3']);
    expect(uniqueOutputNames(['x.png', 'x.png'])).to.deep.equal(['x.png', 'x.png-2']);
    const names = uniqueOutputNames(['a/one.png', 'b/one.png', 'one.png-2.jpg']);
    expect(new Set(names).size).to.equal(3);
  });
});
