import { Controller, UseFilters } from '@nestjs/common';
import { Ctx, NatsContext } from '@nestjs/microservices';
import { Signals, type Heartbeat } from '@gureum/contracts';
import { nodeIdFromContext, OnSignal, SignalPayload } from '@gureum/messaging';
import { SignalErrorFilter } from '../common/signal-error.filter';
import { RecordHeartbeatUseCase } from './record-heartbeat.usecase';

const HEARTBEAT = Signals.agentHeartbeat.subject;

/** Host inventory from agents' heartbeats (core NATS, fire-and-forget: a lost one is fine). */
@Controller()
export class HostController {
  constructor(private readonly recordHeartbeat: RecordHeartbeatUseCase) {}

  @OnSignal(HEARTBEAT)
  @UseFilters(SignalErrorFilter)
  async heartbeat(@SignalPayload(HEARTBEAT) heartbeat: Heartbeat, @Ctx() context: NatsContext): Promise<void> {
    await this.recordHeartbeat.execute({ nodeId: nodeIdFromContext(HEARTBEAT, context), heartbeat });
  }
}
