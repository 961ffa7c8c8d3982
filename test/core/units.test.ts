import { Cpu, Duration, PyfleetError, Size } from '../../lib';

test('Cpu renders for Kubernetes and compose', () => {
  expect(Cpu.millis(500).toKubernetes()).toBe('500m');
  expect(Cpu.cores(2).toKubernetes()).toBe('2');
  expect(Cpu.cores(1.5).toKubernetes()).toBe('1500m');
  expect(Cpu.millis(250).toCompose()).toBe('0.25');
  expect(Cpu.cores(2).cores).toBe(2);
  expect(() => Cpu.millis(1.5)).toThrow(/whole number of millicores/);
  expect(() => Cpu.millis(0)).toThrow(PyfleetError);
});

test('Size renders in the largest binary unit', () => {
  expect(Size.mebibytes(512).toKubernetes()).toBe('512Mi');
  expect(Size.gibibytes(1).toKubernetes()).toBe('1Gi');
  expect(Size.mebibytes(1536).toKubernetes()).toBe('1536Mi');
  expect(Size.gibibytes(1).toCompose()).toBe('1g');
  expect(Size.mebibytes(256).toCompose()).toBe('256m');
  expect(Size.bytes(1000).toCompose()).toBe('1000b');
});

test('Duration renders Go-style and sums', () => {
  expect(Duration.seconds(10).toGoString()).toBe('10s');
  expect(Duration.millis(250).toGoString()).toBe('250ms');
  expect(Duration.minutes(2).seconds).toBe(120);
  expect(Duration.seconds(1.2).wholeSeconds).toBe(2);
  expect(Duration.seconds(5).plus(Duration.seconds(30)).toGoString()).toBe('35s');
});
