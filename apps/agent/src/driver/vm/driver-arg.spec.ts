import { parseDriverArg } from '../../config';

describe('parseDriverArg', () => {
  it('defaults to docker and accepts vm, or both', () => {
    expect(parseDriverArg([])).toEqual(['docker']);
    expect(parseDriverArg(['--driver', 'vm'])).toEqual(['vm']);
    expect(parseDriverArg(['--driver=docker,vm'])).toEqual(['docker', 'vm']);
  });

  it('rejects unknown or repeated drivers', () => {
    expect(() => parseDriverArg(['--driver', 'lxc'])).toThrow(/unsupported --driver lxc/);
    expect(() => parseDriverArg(['--driver', 'vm,vm'])).toThrow(/unsupported/);
    expect(() => parseDriverArg(['--driver', ''])).toThrow(/unsupported/);
  });
});
