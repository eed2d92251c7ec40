import { Module, type DynamicModule } from '@nestjs/common';
import { DataSource } from 'typeorm';
import { QueryUsageUseCase } from './usage/query-usage.usecase';
import { UsageController } from './usage/usage.controller';

@Module({})
export class MeteringModule {
  static register(dataSource: DataSource): DynamicModule {
    return {
      module: MeteringModule,
      controllers: [UsageController],
      providers: [{ provide: DataSource, useValue: dataSource }, QueryUsageUseCase],
    };
  }
}
