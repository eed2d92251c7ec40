import { Injectable } from '@nestjs/common';
import { ErrorCode, GureumError, type HostList, type HostView } from '@gureum/contracts';
import { DataSource } from 'typeorm';
import { loadHostViews } from './host-view';

/** Operators' read of the fleet. */
@Injectable()
export class ListHostsUseCase {
  constructor(private readonly dataSource: DataSource) {}

  async list(): Promise<HostList> {
    return { items: await loadHostViews(this.dataSource.manager) };
  }

  async get(hostId: string): Promise<HostView> {
    const [view] = await loadHostViews(this.dataSource.manager, hostId);
    if (!view) throw new GureumError(ErrorCode.NotFound, `host ${hostId} does not exist`, { hostId });
    return view;
  }
}
