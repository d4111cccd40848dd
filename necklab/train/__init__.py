"""Training the necks offline: the synthetic multi-scale scenes they learn from (cut-outs pasted on
backgrounds), and later the shared dense head, the trainer and the evaluation. Sits above `lab`, below
`viz`: nothing here draws or serves."""
