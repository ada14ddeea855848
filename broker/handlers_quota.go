package broker

// quotaHandlers lists the APIs of client quotas: DescribeClientQuotas, AlterClientQuotas.
var quotaHandlers = []handler{describeClientQuotasHandler, alterClientQuotasHandler}
