/** The middle value; of an even count, the upper of the two middle ones (a value measured). */
export const median = (xs: number[]) =>
  [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
