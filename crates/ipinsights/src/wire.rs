//! SageMaker IP Insights wire format.
