/* Keeps the library non-empty until the runtime sources land; delete it then. */
int runtime_placeholder(void);
int runtime_placeholder(void)
{
    return 0;
}
