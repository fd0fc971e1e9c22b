/* Replaced by the gRPC server. */
int cri_placeholder(void);
int cri_placeholder(void)
{
    return 0;
}
