import { Injectable } from '@nestjs/common';

/**
 * Lets anything that frees capacity wake the placement loop without depending on it (the
 * loop itself depends on code that frees capacity, so a direct reference would be a cycle).
 */
@Injectable()
export class PlacementKicker {
  private listener: (() => void) | null = null;

  listen(listener: () => void): void {
    this.listener = listener;
  }

  stopListening(): void {
    this.listener = null;
  }

  kick(): void {
    this.listener?.();
  }
}
